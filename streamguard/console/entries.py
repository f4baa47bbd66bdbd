"""What the console's store keeps of each record: positions, quarantine entries, finding
points, incident states and worker totals (plain data, no logic beyond ``as_dict``).

Examples
--------
>>> Position("streamguard.quarantine", 0, 5).as_dict()
{'topic': 'streamguard.quarantine', 'partition': 0, 'offset': 5}
>>> FindingPoint("2026-01-01T00:00:00Z", 1.0, 0.4, 0.2).statistic
0.4
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["FindingPoint", "IncidentState", "Position", "QuarantineEntry", "WorkerTotals"]


@dataclass(frozen=True, slots=True)
class Position:
    """A record's place in Kafka."""

    topic: str
    partition: int
    offset: int

    def as_dict(self) -> dict[str, Any]:
        """``{"topic", "partition", "offset"}``."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(slots=True)
class QuarantineEntry:
    """One quarantine record: where it came from, where it sits, why, and when."""

    stream: str
    source: Position | None
    position: Position
    reasons: list[dict[str, Any]]
    raw: str
    encoding: str
    received_at: str | None
    masked: str | None = None  # the masked raw value, computed once when first shown


@dataclass(frozen=True, slots=True)
class FindingPoint:
    """One finding's numbers, for a (stream, kind, field) series."""

    detected_at: str
    timestamp_s: float
    statistic: float
    threshold: float


@dataclass(slots=True)
class IncidentState:
    """The latest record of an incident and its timeline (status changes seen)."""

    body: dict[str, Any]
    timeline: deque[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class WorkerTotals:
    """One worker's latest running totals for one stream (a signal-state record)."""

    records_in: int
    records_quarantined: int
    reasons: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    timestamp_s: float
