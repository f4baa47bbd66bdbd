"""The signal: a detector's condition that holds *now* (a finding says when it began).

A finding is an event: "at this record, ``price`` went missing". A signal is a state:
"``price`` is still missing, by this much, since then". Detectors that emit findings
also report their active signals (``active_signals()``, read once per batch or tick, never
per record); the alert manager keeps an incident open while one of its signals is active
and resolves it only after the condition cleared and the quiet period passed. The fields
are those of DESIGN.md's webhook ``signals`` entries (``kind``, ``field``, ``statistic``,
``threshold``, ``since``), plus the stream, a quality drop's ``dimension`` and details.

Examples
--------
>>> s = Signal("quality_drop", "behavior", None, 0.41, 0.98, since=1_800_000_000.0,
...            dimension="validity")
>>> s.group_key
'behavior/quality_drop/validity'
>>> s.as_dict()["since"], s.as_dict()["dimension"]
('2027-01-15T08:00:00.000Z', 'validity')
>>> Signal.from_dict(s.as_dict()) == s
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamguard.events.records import format_ts

__all__ = ["Signal"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One active condition of one stream.

    ``statistic`` and ``threshold`` are the detector's latest numbers for it; ``since`` is
    when it was first seen (seconds since the epoch); ``field`` is None for a whole
    quality dimension, which ``dimension`` then names.
    """

    kind: str
    stream: str
    field: str | None
    statistic: float
    threshold: float
    since: float
    dimension: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def group_key(self) -> str:
        """``stream/kind/field`` (the dimension stands in for a missing field), as the
        alert manager groups findings."""
        return f"{self.stream}/{self.kind}/{self.field or self.dimension or '_record'}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``since`` as RFC 3339)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "stream": self.stream,
            "field": self.field,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "since": format_ts(datetime.fromtimestamp(self.since, tz=UTC)),
        }
        if self.dimension is not None:
            out["dimension"] = self.dimension
        if self.details:
            out["details"] = dict(self.details)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        """The signal of :meth:`as_dict` (raises ``KeyError``/``ValueError``/``TypeError``
        on anything else)."""
        since = data["since"]
        if isinstance(since, str):
            since = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
        field = data.get("field")
        dimension = data.get("dimension")
        return cls(
            str(data["kind"]),
            str(data["stream"]),
            str(field) if field is not None else None,
            float(data["statistic"]),
            float(data["threshold"]),
            since=float(since),
            dimension=str(dimension) if dimension is not None else None,
            details=dict(data.get("details") or {}),
        )
