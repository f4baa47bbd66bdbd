"""What is wrong with a contract file: each problem with its file and line.

>>> error = ContractError([ContractIssue("orders.yaml", 7, "logicalType: 'strng' is wrong")])
>>> print(error)
orders.yaml:7: logicalType: 'strng' is wrong
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ContractError", "ContractIssue"]


@dataclass(frozen=True, slots=True)
class ContractIssue:
    """One problem: the file, the 1-based line (``None`` when not known) and what is wrong."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class ContractError(ValueError):
    """One or more contract files are invalid; ``issues`` says where and why."""

    def __init__(self, issues: list[ContractIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))
