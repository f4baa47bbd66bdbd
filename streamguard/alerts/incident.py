"""One incident: every signal of one stream episode, and what happened during it.

An :class:`Incident` is a plain record (no clock, no I/O): the correlation rules in
:mod:`streamguard.alerts.incidents` decide which signals join it and when it changes
state; this module keeps its signals (:class:`IncidentSignal`), its counters and examples,
and renders it as DESIGN.md's generic webhook body (:meth:`Incident.body`), which is also
its record on the compacted ``streamguard.incidents`` topic, from which
:meth:`Incident.from_record` restores it after a restart.

Examples
--------
>>> incident = Incident("inc-1", "behavior", started=1_800_000_000.0)
>>> incident.add_signal("behavior/quality_drop/validity", "quality_drop", None, 0.41, 0.98,
...                     since=1_800_000_000.0, severity="critical", dimension="validity")
True
>>> incident.add_signal("behavior/quality_drop/user_id", "quality_drop", "user_id", 0.3,
...                     0.99, since=1_800_000_001.0, severity="warning")
True
>>> body = incident.body("firing", now=1_800_000_002.0)
>>> body["severity"], [s["field"] for s in body["signals"]], body["summary"]
('critical', [None, 'user_id'], 'behavior: 2 signals (quality_drop on validity, user_id)')
>>> Incident.from_record(body).signals.keys() == incident.signals.keys()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from streamguard.events.records import format_ts

__all__ = ["SEVERITY_RANK", "Incident", "IncidentSignal", "iso", "parse_iso"]

SEVERITY_RANK: Final = {"info": 0, "warning": 1, "error": 2, "critical": 3}
_MAX_SIGNALS: Final = 50  # per incident: a stream has a bounded set of fields anyway
_MAX_EXAMPLES: Final = 5
_TOP_REASONS: Final = 5


def iso(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds.

    >>> iso(0.0)
    '1970-01-01T00:00:00.000Z'
    """
    return format_ts(datetime.fromtimestamp(seconds, tz=UTC))


def parse_iso(text: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string (None when absent or unreadable).

    >>> parse_iso("1970-01-01T00:01:00.000Z"), parse_iso(None)
    (60.0, None)
    """
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 1)


@dataclass
class IncidentSignal:
    """One signal that joined an incident (its key is ``stream/kind/field``)."""

    kind: str
    field: str | None
    statistic: float | None
    threshold: float | None
    since: float
    severity: str = "warning"
    dimension: str | None = None
    cleared_at: float | None = None  # last time it was seen clearing (None: active)

    def as_dict(self) -> dict[str, Any]:
        """The webhook ``signals`` entry."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "field": self.field,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "since": iso(self.since),
        }
        if self.dimension is not None:
            out["dimension"] = self.dimension
        out["severity"] = self.severity
        return out


@dataclass
class Incident:
    """One stream episode. ``status``: ``pending`` (opened, not yet notified),
    ``firing`` (notified; ``updated`` ones stay firing) or ``resolved``."""

    incident_id: str
    stream: str
    started: float
    status: str = "pending"
    ended: float | None = None
    severity: str = "warning"
    signals: dict[str, IncidentSignal] = field(default_factory=dict)
    last_activity: float = 0.0  # last finding, or last moment one of its signals held
    last_notified: float | None = None
    dirty: bool = False  # something joined since the last notification
    reopened: int = 0
    related: list[str] = field(default_factory=list)
    linked_to: str | None = None  # explained by this incident: it does not page
    findings: int = 0
    records_in: int = 0
    records_quarantined: int = 0
    carried_in: int = 0  # counted before a restart (from the restored record)
    carried_quarantined: int = 0
    carried_reasons: list[dict[str, Any]] = field(default_factory=list)
    base_in: int | None = None  # the stream's counters when it opened (or was restored)
    base_quarantined: int | None = None
    base_reasons: dict[tuple[str, str | None], int] = field(default_factory=dict)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_activity = max(self.last_activity, self.started)

    # --- joining -----------------------------------------------------------------------

    def add_signal(
        self,
        key: str,
        kind: str,
        field: str | None,
        statistic: float | None,
        threshold: float | None,
        *,
        since: float,
        severity: str = "warning",
        dimension: str | None = None,
    ) -> bool:
        """Add or refresh a signal; True when it is new to the incident (or severity rose)."""
        signal = self.signals.get(key)
        raised = _rank(severity) > _rank(self.severity)
        if raised:
            self.severity = severity
        if signal is not None:
            signal.statistic, signal.threshold = statistic, threshold
            signal.cleared_at = None
            if _rank(severity) > _rank(signal.severity):
                signal.severity = severity
            return raised
        if len(self.signals) >= _MAX_SIGNALS:
            return raised
        self.signals[key] = IncidentSignal(
            kind, field, statistic, threshold, since, severity, dimension
        )
        return True

    def add_examples(self, positions: list[Mapping[str, Any]]) -> None:
        """Keep the first few distinct source positions (topic, partition, offset)."""
        for position in positions:
            if len(self.examples) >= _MAX_EXAMPLES:
                return
            try:
                example = {
                    "topic": str(position["topic"]),
                    "partition": int(position["partition"]),
                    "offset": int(position["offset"]),
                }
            except (KeyError, TypeError, ValueError):
                continue
            if example not in self.examples:
                self.examples.append(example)

    def account(
        self,
        records_in: int,
        quarantined: int,
        reasons: Mapping[tuple[str, str | None], int],
    ) -> None:
        """The stream's running totals now: the incident counts what came since it
        opened (on top of what a restored record carried)."""
        if self.base_in is None or self.base_quarantined is None:
            self.base_in, self.base_quarantined = records_in, quarantined
            self.base_reasons = dict(reasons)
        self.records_in = self.carried_in + max(records_in - self.base_in, 0)
        self.records_quarantined = self.carried_quarantined + max(
            quarantined - self.base_quarantined, 0
        )
        counts: dict[tuple[str, str | None], int] = {}
        for reason in self.carried_reasons:
            counts[str(reason["code"]), reason.get("field")] = int(reason["count"])
        for key, count in reasons.items():
            grown = count - self.base_reasons.get(key, 0)
            if grown > 0:
                counts[key] = counts.get(key, 0) + grown
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        self.reasons = [
            {"code": code, "field": fld, "count": n} for (code, fld), n in top[:_TOP_REASONS]
        ]

    # --- reading -----------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """Not resolved (pending or firing)."""
        return self.status != "resolved"

    def summary(self) -> str:
        """One line for humans."""
        kinds: dict[str, list[str]] = {}
        for signal in self.signals.values():
            kinds.setdefault(signal.kind, []).append(signal.field or signal.dimension or "_record")
        parts = [f"{kind} on {', '.join(names)}" for kind, names in kinds.items()]
        n = len(self.signals)
        return f"{self.stream}: {n} signal{'s' if n != 1 else ''} ({'; '.join(parts)})"

    def body(self, status: str, now: float) -> dict[str, Any]:
        """DESIGN.md's generic webhook body for a notification of ``status`` (also the
        incident's record on the incidents topic)."""
        ended = self.ended if status == "resolved" else None
        duration = (ended if ended is not None else now) - self.started
        return {
            "status": status,
            "incident_id": self.incident_id,
            "group_key": self.stream,
            "stream": self.stream,
            "severity": self.severity,
            "summary": self.summary(),
            "signals": [s.as_dict() for s in self.signals.values()],
            "top_reasons": list(self.reasons),
            "examples": list(self.examples),
            "records_in": self.records_in,
            "records_quarantined": self.records_quarantined,
            "related": list(self.related),
            "started_at": iso(self.started),
            "ended_at": iso(ended) if ended is not None else None,
            "duration_s": round(max(duration, 0.0), 3),
            "reopened": self.reopened,
            "links": {},
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Incident:
        """An incident from its topic record (:meth:`body`); raises ``KeyError`` /
        ``ValueError`` on a record that is not one."""
        started = parse_iso(record["started_at"])
        if started is None:
            raise ValueError("an incident record needs started_at")
        status = str(record["status"])
        incident = cls(
            incident_id=str(record["incident_id"]),
            stream=str(record["stream"]),
            started=started,
            status="resolved" if status == "resolved" else "firing",
            ended=parse_iso(record.get("ended_at")),
            severity=str(record.get("severity") or "warning"),
            reopened=int(record.get("reopened") or 0),
            related=[str(r) for r in record.get("related") or []],
            records_in=int(record.get("records_in") or 0),
            records_quarantined=int(record.get("records_quarantined") or 0),
            reasons=list(record.get("top_reasons") or []),
            carried_in=int(record.get("records_in") or 0),
            carried_quarantined=int(record.get("records_quarantined") or 0),
            carried_reasons=list(record.get("top_reasons") or []),
            examples=list(record.get("examples") or []),
        )
        for entry in record.get("signals") or []:
            kind, fld, dim = entry["kind"], entry.get("field"), entry.get("dimension")
            key = f"{incident.stream}/{kind}/{fld or dim or '_record'}"
            incident.signals[key] = IncidentSignal(
                kind,
                fld,
                entry.get("statistic"),
                entry.get("threshold"),
                parse_iso(entry.get("since")) or started,
                str(entry.get("severity") or "warning"),
                dim,
            )
        incident.last_notified = started
        return incident
