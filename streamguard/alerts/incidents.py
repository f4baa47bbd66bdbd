"""Grouping findings into incidents: one open incident per stream/kind/field.

The first finding of a group opens an incident and yields a ``firing`` notification;
later findings of the same group only refresh it (no new notification: on-call gets one
page per problem, not one per record). An incident resolves — one ``resolved``
notification — once its condition has cleared and ``quiet_period_s`` has passed, or on
an explicit :meth:`IncidentBook.clear`.

Whether the condition still holds comes from the detectors' active signals
(:class:`~streamguard.events.signals.Signal`), handed over per stream with
:meth:`IncidentBook.observe_signals` on every report: while a signal of an incident's
group is active the incident stays open, and the quiet period counts from the moment it
cleared (or from the last finding, whichever is later). Groups without signals
(anomalies: per-record events) resolve a quiet period after their last finding. Pure
logic: the clock is passed in, nothing is sent here.

Findings without a ``field`` (``quality_drop`` of a whole dimension) use their
``dimension`` in its place, so a validity drop and a timeliness drop are two incidents.

Examples
--------
>>> book = IncidentBook(quiet_period_s=60)
>>> finding = {"kind": "schema_drift", "stream": "behavior", "field": "price",
...            "severity": "warning", "statistic": 0.4, "threshold": 0.2}
>>> book.observe(finding, now=0.0).status
'firing'
>>> book.observe(finding, now=30.0) is None   # same group: refreshed, not re-sent
True
>>> book.expire(now=80.0)
[]
>>> [n.status for n in book.expire(now=91.0)], book.open_count
(['resolved'], 0)

With signals, the incident outlives the quiet period while its condition holds:

>>> from streamguard.events.signals import Signal
>>> _ = book.observe(finding, now=100.0)
>>> held = Signal("schema_drift", "behavior", "price", 0.4, 0.2, since=100.0)
>>> book.observe_signals([held], now=500.0, streams=["behavior"])
>>> book.expire(now=550.0)
[]
>>> book.observe_signals([], now=600.0, streams=["behavior"])  # cleared at 600
>>> book.expire(now=659.0), [n.status for n in book.expire(now=660.0)]
([], ['resolved'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from streamguard.alerts.targets import Notification
from streamguard.events.records import format_ts
from streamguard.events.signals import Signal

__all__ = ["Incident", "IncidentBook", "group_key", "validate_finding"]

_SEVERITY_RANK: Final = {"info": 0, "warning": 1, "error": 2, "critical": 3}
_MAX_FINDING_BYTES: Final = 2000  # per value of a finding, to bound notification size


def validate_finding(finding: Any) -> None:
    """Raise ``TypeError``/``ValueError`` naming what is wrong with a finding."""
    if not isinstance(finding, Mapping):
        raise TypeError(f"a finding must be a mapping, not {type(finding).__name__}")
    for key in ("kind", "stream"):
        value = finding.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"a finding needs a non-empty string {key!r}")
    if finding.get("field") is not None and not isinstance(finding["field"], str):
        raise ValueError("a finding's 'field' must be a string or null")


def group_key(finding: Mapping[str, Any]) -> str:
    """``stream/kind/field`` (the dimension stands in for a missing field).

    >>> group_key({"kind": "quality_drop", "stream": "product", "dimension": "validity"})
    'product/quality_drop/validity'
    """
    field = finding.get("field") or finding.get("dimension") or "_record"
    return f"{finding['stream']}/{finding['kind']}/{field}"


def _clip(finding: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of bounded size: at most 3 examples, and any value whose JSON
    exceeds :data:`_MAX_FINDING_BYTES` replaced by its truncated JSON text.

    Findings come from other engines (numpy numbers, sets, huge examples): this keeps
    rendering from failing in ``submit`` and bounds each notification's size.

    >>> clipped = _clip({"kind": "anomaly", "examples": list(range(9)), "blob": "x" * 5000})
    >>> clipped["examples"], len(clipped["blob"])
    ([0, 1, 2], 2001)
    """
    clipped: dict[str, Any] = {}
    for key, value in finding.items():
        if key == "examples" and isinstance(value, list):
            value = value[:3]
        encoded = orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
        if len(encoded) > _MAX_FINDING_BYTES:
            text = value if isinstance(value, str) else encoded.decode("utf-8")
            clipped[str(key)] = text[:_MAX_FINDING_BYTES] + "…"
        else:
            clipped[str(key)] = orjson.loads(encoded)
    return clipped


def _iso(now: float) -> str:
    return format_ts(datetime.fromtimestamp(now, tz=UTC))


@dataclass
class Incident:
    """An open group: its first finding, the latest few, and when it was last seen."""

    key: str
    kind: str
    stream: str
    field: str | None
    severity: str
    started: float
    last_seen: float
    count: int = 1
    findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """One line for humans."""
        where = f"{self.stream}.{self.field}" if self.field else self.stream
        return f"{self.kind} on {where} ({self.count} finding{'s' if self.count > 1 else ''})"

    def notification(self, status: str, ended: float | None) -> Notification:
        """This incident as a notification of ``status``."""
        return Notification(
            status="firing" if status == "firing" else "resolved",
            group_key=self.key,
            kind=self.kind,
            stream=self.stream,
            field=self.field,
            severity=self.severity,
            summary=self.summary(),
            findings=[_clip(f) for f in self.findings],
            started_at=_iso(self.started),
            ended_at=_iso(ended) if ended is not None else None,
        )


class IncidentBook:
    """Open incidents by group key; turns findings and silence into notifications.

    Parameters
    ----------
    quiet_period_s
        An incident resolves after this long without a finding.
    max_open
        Most incidents open at once; findings that would open more are refused
        (:meth:`observe` returns None and :attr:`refused` counts them).
    keep_findings
        Findings kept per incident (the first and the latest ones).
    """

    def __init__(
        self, quiet_period_s: float = 300.0, *, max_open: int = 500, keep_findings: int = 5
    ) -> None:
        if quiet_period_s <= 0 or max_open < 1 or keep_findings < 1:
            raise ValueError("quiet_period_s must be > 0, max_open and keep_findings >= 1")
        self.quiet_period_s = quiet_period_s
        self.max_open = max_open
        self.keep_findings = keep_findings
        self.refused = 0
        self._open: dict[str, Incident] = {}
        self._active: dict[str, frozenset[str]] = {}  # stream -> group keys with a signal

    @property
    def open_count(self) -> int:
        """How many incidents are open."""
        return len(self._open)

    def open_by_kind(self) -> dict[str, int]:
        """Open incidents per finding kind."""
        counts: dict[str, int] = {}
        for incident in self._open.values():
            counts[incident.kind] = counts.get(incident.kind, 0) + 1
        return counts

    def observe(self, finding: Mapping[str, Any], now: float) -> Notification | None:
        """Account for one finding; a ``firing`` notification when it opens an incident."""
        validate_finding(finding)
        key = group_key(finding)
        severity = str(finding.get("severity") or "warning")
        incident = self._open.get(key)
        if incident is not None:
            incident.last_seen = now
            incident.count += 1
            if _SEVERITY_RANK.get(severity, 1) > _SEVERITY_RANK.get(incident.severity, 1):
                incident.severity = severity
            incident.findings.append(dict(finding))  # clipped when a notification is built
            if len(incident.findings) > self.keep_findings:
                del incident.findings[1]  # keep the first and the latest ones
            return None
        if len(self._open) >= self.max_open:
            self.refused += 1
            return None
        field = finding.get("field") or finding.get("dimension")
        incident = Incident(
            key=key,
            kind=finding["kind"],
            stream=finding["stream"],
            field=str(field) if field else None,
            severity=severity,
            started=now,
            last_seen=now,
            findings=[dict(finding)],
        )
        self._open[key] = incident
        return incident.notification("firing", None)

    def observe_signals(
        self, signals: Iterable[Signal], now: float, *, streams: Iterable[str]
    ) -> None:
        """The active signals of ``streams``, as of ``now`` (all of them: a stream listed
        without signals has none). An incident with an active signal stays open; one whose
        signals cleared has its quiet period start now."""
        by_stream: dict[str, set[str]] = {stream: set() for stream in streams}
        for signal in signals:
            by_stream.setdefault(signal.stream, set()).add(signal.group_key)
        for stream, keys in by_stream.items():
            before = self._active.get(stream, frozenset())
            for key in keys | before:  # still active, or cleared just now
                incident = self._open.get(key)
                if incident is not None:
                    incident.last_seen = max(incident.last_seen, now)
            if keys:
                self._active[stream] = frozenset(keys)
            else:
                self._active.pop(stream, None)

    def active_by_kind(self) -> dict[str, int]:
        """Groups with an active signal, per finding kind."""
        counts: dict[str, int] = {}
        for keys in self._active.values():
            for key in keys:
                kind = key.split("/")[1]
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def _held(self, incident: Incident) -> bool:
        return incident.key in self._active.get(incident.stream, frozenset())

    def expire(self, now: float) -> list[Notification]:
        """Resolve every incident whose signals have cleared (or that has none) and that
        has been quiet for ``quiet_period_s``; their notifications."""
        quiet = [
            i
            for i in self._open.values()
            if now - i.last_seen >= self.quiet_period_s and not self._held(i)
        ]
        for incident in quiet:
            del self._open[incident.key]
        return [i.notification("resolved", now) for i in quiet]

    def clear(self, stream: str, kind: str, field: str | None, now: float) -> Notification | None:
        """Resolve one incident now (the condition cleared); None if none is open."""
        key = group_key({"stream": stream, "kind": kind, "field": field})
        incident = self._open.pop(key, None)
        return incident.notification("resolved", now) if incident is not None else None
