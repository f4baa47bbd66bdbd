"""The finding: what a detector reports, in DESIGN.md's format.

``{"kind", "stream", "field", "severity", "statistic", "threshold", "window",
"examples", "position", "detected_at"}`` plus a one-line ``summary`` for alerts.

Examples
--------
>>> from streamguard.events.records import SourcePosition
>>> f = Finding("schema_drift", "product", "price", "warning", 0.41, 0.12,
...             {"reference": 500, "recent": 200}, ["before: number", "after: string"],
...             SourcePosition("events.product", 2, 977), 1_800_000_000.0,
...             "price type mix changed: string 0% -> 41%")
>>> d = f.as_dict()
>>> d["kind"], d["position"], d["detected_at"]
('schema_drift', {'topic': 'events.product', 'partition': 2, 'offset': 977},
 '2027-01-15T08:00:00.000Z')
>>> f.to_json()[:24]
b'{"kind":"schema_drift","'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from streamguard.events.records import SourcePosition, format_ts

__all__ = ["Finding", "FindingKind", "Severity", "clip_example"]

FindingKind = Literal["schema_drift", "semantic_drift", "anomaly"]
Severity = Literal["info", "warning", "critical"]
#: Examples are for humans: long values are cut to this many characters.
EXAMPLE_CHARS = 160


def clip_example(value: Any) -> Any:
    """A value fit for ``examples``: strings cut to :data:`EXAMPLE_CHARS` characters.

    >>> clip_example("x" * 200)[-3:], clip_example(12.5)
    ('...', 12.5)
    """
    if isinstance(value, str) and len(value) > EXAMPLE_CHARS:
        return value[: EXAMPLE_CHARS - 3] + "..."
    return value


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector firing.

    ``statistic`` and ``threshold`` are the detector's own numbers (it fired because the
    first exceeded the second); ``window`` says what was compared (record counts);
    ``examples`` are a few values before and after; ``position`` is the record at which
    the detector fired; ``detected_at`` is seconds since the epoch.
    """

    kind: FindingKind
    stream: str
    field: str | None
    severity: Severity
    statistic: float
    threshold: float
    window: dict[str, Any]
    examples: list[Any]
    position: SourcePosition | None
    detected_at: float
    summary: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form published to ``streamguard.findings`` and written by ``check``."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "stream": self.stream,
            "field": self.field,
            "severity": self.severity,
            "statistic": round(self.statistic, 6),
            "threshold": round(self.threshold, 6),
            "window": self.window,
            "examples": [clip_example(e) for e in self.examples],
            "position": self.position.as_dict() if self.position is not None else None,
            "detected_at": format_ts(datetime.fromtimestamp(self.detected_at, tz=UTC)),
            "summary": self.summary,
        }
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self) -> bytes:
        """``as_dict`` serialized (one line, no trailing newline)."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_NON_STR_KEYS)
