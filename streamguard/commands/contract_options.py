"""``--contracts PATH``, shared by the commands that run the pipeline over data.

A command adds the option with :func:`add_contracts_argument` and, in ``run``, calls
:func:`command_contracts`: it loads and validates the contracts (printing every
problem with its file and line), lists the quality rules StreamGuard cannot evaluate,
and returns ``None`` when the command must exit 2. :func:`stream_contract` then picks
the contract of ``--stream`` (a shipped stream, or a new one a contract declares).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO

from streamguard.contracts.contract import SHIPPED_STREAMS, ContractSet, StreamContract
from streamguard.contracts.errors import ContractError
from streamguard.contracts.loader import load_contracts

__all__ = ["add_contracts_argument", "command_contracts", "stream_contract"]


def add_contracts_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--contracts PATH`` to a command's parser."""
    parser.add_argument(
        "--contracts",
        type=Path,
        metavar="PATH",
        help=(
            "ODCS v3 data contracts (a YAML file or a directory of *.yaml): they refine the"
            " shipped streams' rules or declare new streams"
        ),
    )


def command_contracts(
    path: Path | None, command: str, *, err: IO[str] | None = None
) -> ContractSet | None:
    """The contracts at ``path`` (empty without one), or ``None`` after printing why
    they are invalid (the command then exits 2). Quality rules StreamGuard cannot
    evaluate are printed and logged, never silently ignored."""
    err = err if err is not None else sys.stderr
    try:
        contracts = load_contracts(path)
    except ContractError as exc:
        print(f"streamguard {command}: invalid contract:", file=err)
        for issue in exc.issues:
            print(f"  {issue}", file=err)
        return None
    for line in contracts.unsupported():
        print(f"contract rule not evaluated: {line}", file=err)
    return contracts


def stream_contract(
    contracts: ContractSet, stream: str, command: str, *, err: IO[str] | None = None
) -> tuple[bool, StreamContract | None]:
    """``(known, contract)`` for ``--stream``: known is False (after printing why) when
    ``stream`` is neither shipped nor declared by a contract."""
    contract = contracts.get(stream)
    if contract is None and stream not in SHIPPED_STREAMS:
        names = ", ".join([*SHIPPED_STREAMS, *(c.stream for c in contracts.new_streams())])
        print(
            f"streamguard {command}: unknown stream {stream!r} (known: {names})",
            file=err if err is not None else sys.stderr,
        )
        return False, None
    return True, contract
