"""Where a stream's records went: output topics with counts, and the schema in force.

:class:`Lineage` counts, per output topic, how many of a stream's records (or records
derived from them) went there, under one of the roles in :data:`ROLES`. Lineages merge
(two workers' counts of the same stream) and round-trip through plain JSON
(:meth:`Lineage.to_dict` / :meth:`Lineage.from_dict`), which is how a worker's partial
travels on the inventory topic. :meth:`Lineage.as_dict` is the ``lineage`` key of a
stream's inventory entry.

Examples
--------
>>> lin = Lineage()
>>> lin.count("events.behavior.clean", "clean", 9)
>>> lin.count("streamguard.quarantine", "quarantine")
>>> other = Lineage.from_dict(lin.to_dict())
>>> lin.merge(other)
>>> entry = lin.as_dict(["events.behavior"], schema="behavior.v1")
>>> entry["outputs"]["events.behavior.clean"], entry["contract"]
({'role': 'clean', 'records': 18}, None)
>>> file_lineage("file:x.jsonl", None)
{'inputs': ['file:x.jsonl'], 'outputs': {}, 'schema': None, 'contract': None}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ROLES", "Lineage", "file_lineage"]

#: What an output topic is to the stream.
ROLES = ("clean", "quarantine", "findings", "recommendations")


class Lineage:
    """Counts of a stream's records per output topic (each topic under one role)."""

    def __init__(self) -> None:
        self._outputs: dict[str, tuple[str, int]] = {}

    def count(self, topic: str, role: str, n: int = 1) -> None:
        """``n`` more records went to ``topic`` (as ``role``, one of :data:`ROLES`)."""
        if role not in ROLES:
            raise ValueError(f"unknown lineage role {role!r}")
        if n <= 0:
            return
        _, seen = self._outputs.get(topic, (role, 0))
        self._outputs[topic] = (role, seen + n)

    def records(self, topic: str) -> int:
        """Records counted for ``topic`` (0 when none)."""
        return self._outputs.get(topic, ("", 0))[1]

    def merge(self, other: Lineage) -> None:
        """Add another worker's counts of the same stream."""
        for topic, (role, n) in other._outputs.items():
            self.count(topic, role, n)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON: ``{topic: {"role", "records"}}``, topics sorted."""
        return {
            topic: {"role": role, "records": n}
            for topic, (role, n) in sorted(self._outputs.items())
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        """The inverse of :meth:`to_dict`; raises ``ValueError`` on anything else."""
        lineage = cls()
        if not isinstance(data, Mapping):
            raise ValueError("lineage must be an object")
        for topic, entry in data.items():
            try:
                role, n = entry["role"], entry["records"]
            except (KeyError, TypeError) as exc:
                raise ValueError(f"bad lineage entry for {topic!r}") from exc
            if not isinstance(topic, str) or not isinstance(n, int) or isinstance(n, bool):
                raise ValueError(f"bad lineage entry for {topic!r}")
            lineage.count(topic, str(role), n)
        return lineage

    def as_dict(
        self,
        inputs: Sequence[str],
        schema: str | None = None,
        contract: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``lineage`` key of a stream's inventory entry."""
        return {
            "inputs": list(inputs),
            "outputs": self.to_dict(),
            "schema": schema,
            "contract": dict(contract) if contract is not None else None,
        }


def file_lineage(source: str, schema: str | None) -> dict[str, Any]:
    """The lineage of a profiled file: the file as input, no outputs."""
    return Lineage().as_dict([source], schema)
