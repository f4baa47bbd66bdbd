"""The console's bounded, in-memory view of StreamGuard's topics.

A background reader feeds it records (:meth:`ConsoleStore.add`); pages read it. Every
collection has a cap, so memory and the work a page does stay bounded whatever the
topics hold: the latest quarantine records per stream and per (stream, reason), the
recent findings and a short series per (stream, kind, field), the latest state of each
incident with a short timeline, each stream's inventory, a few recommendation lists and
each worker's latest signal-state record (running totals, from which rates are taken).
Pure: no I/O, no clock read (times come from the records).

Examples
--------
>>> store = ConsoleStore(TopicRoles(quarantine="q", findings="f"), quarantine_per_stream=2)
>>> for offset in range(3):
...     store.add("q", 0, offset, b"events.behavior", b'{"source": {"topic": "events.behavior",'
...               b' "partition": 0, "offset": 9}, "raw": "x", "reasons": [{"code": "duplicate"}]}',
...               1.0)
>>> [q.position.offset for q in store.quarantine_latest("behavior", None)]
[2, 1]
>>> store.quarantine_seen["behavior"]
3
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamguard.console.entries import (
    FindingPoint,
    IncidentState,
    Position,
    QuarantineEntry,
    WorkerTotals,
)

__all__ = ["ConsoleStore", "TopicRoles"]

#: Source topics of the two streams (defaults); other topics are streams of their own name.
DEFAULT_STREAMS = {"events.behavior": "behavior", "events.product": "product"}
OTHER = "_other"


@dataclass(frozen=True)
class TopicRoles:
    """Which topic holds what (names from the settings)."""

    quarantine: str = "streamguard.quarantine"
    findings: str = "streamguard.findings"
    incidents: str = "streamguard.incidents"
    inventory: str = "streamguard.inventory"
    recommendations: str = "recommendations"
    streams: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STREAMS))


class ConsoleStore:
    """Bounded collections of what the topics said; see the module docs."""

    def __init__(
        self,
        roles: TopicRoles | None = None,
        *,
        quarantine_per_stream: int = 1_000,
        quarantine_per_reason: int = 200,
        findings_recent: int = 500,
        series_points: int = 200,
        max_streams: int = 50,
        max_series: int = 300,
        max_incidents: int = 500,
        timeline_entries: int = 50,
        recommendations: int = 50,
        history_points: int = 720,
        max_workers: int = 200,
    ) -> None:
        self.roles = roles or TopicRoles()
        self.quarantine_per_stream = quarantine_per_stream
        self.quarantine_per_reason = quarantine_per_reason
        self.series_points = series_points
        self.max_streams = max_streams
        self.max_series = max_series
        self.max_incidents = max_incidents
        self.timeline_entries = timeline_entries
        self.history_points = history_points
        self.max_workers = max_workers
        self.quarantine: dict[str, deque[QuarantineEntry]] = {}
        self.quarantine_by_reason: dict[tuple[str, str], deque[QuarantineEntry]] = {}
        self.quarantine_all: deque[QuarantineEntry] = deque(maxlen=quarantine_per_stream)
        self.quarantine_seen: Counter[str] = Counter()
        self.reasons_seen: Counter[tuple[str, str]] = Counter()
        self.findings: deque[dict[str, Any]] = deque(maxlen=findings_recent)
        self.series: dict[tuple[str, str, str], deque[FindingPoint]] = {}
        self.findings_seen: Counter[tuple[str, str]] = Counter()
        self.workers: dict[tuple[str, str], WorkerTotals] = {}
        self.history: dict[str, deque[tuple[float, int, int]]] = {}
        self.incidents: dict[str, IncidentState] = {}
        self.inventory: dict[str, dict[str, Any]] = {}
        self.recommendations: deque[dict[str, Any]] = deque(maxlen=recommendations)
        self.undecodable = 0
        self.latest_s = 0.0
        #: Per topic of the roles: the newest record's timestamp (seconds) read from it.
        self.topic_latest_s: dict[str, float] = {}
        self._role_topics = frozenset(self.topics())

    # --- intake ---------------------------------------------------------------------------

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_s: float,
    ) -> None:
        """Take one record of any of the roles' topics (others are ignored)."""
        self.latest_s = max(self.latest_s, timestamp_s)
        if topic in self._role_topics:
            self.topic_latest_s[topic] = max(self.topic_latest_s.get(topic, 0.0), timestamp_s)
        roles = self.roles
        position = Position(topic, partition, offset)
        text_key = key.decode("utf-8", "replace") if key is not None else None
        if value is None:  # a tombstone: a compacted topic forgets the key
            if topic == roles.incidents and text_key is not None:
                self.incidents.pop(text_key, None)
            elif topic == roles.inventory and text_key is not None:
                self.inventory.pop(text_key, None)
            return
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            self.undecodable += 1
            return
        if not isinstance(data, dict):
            self.undecodable += 1
            return
        if topic == roles.quarantine:
            self._on_quarantine(data, position)
        elif topic == roles.findings:
            self._on_finding(data, timestamp_s)
        elif topic == roles.incidents:
            self._on_incident(data, timestamp_s)
        elif topic == roles.inventory:
            if text_key is not None and "/" not in text_key:  # "/": a worker's partial
                self._on_inventory(text_key, data)
        elif topic == roles.recommendations:
            self.recommendations.append(data)

    def stream_of(self, source_topic: str) -> str:
        """The stream a source topic feeds (its own name when not a known input)."""
        stream = self.roles.streams.get(source_topic, source_topic)
        return self._bounded_stream(stream)

    def _bounded_stream(self, stream: str) -> str:
        known = stream in self.quarantine or stream in self.history or stream in self.inventory
        if known or len(self.streams()) < self.max_streams:
            return stream[:200]
        return OTHER

    def _on_quarantine(self, data: dict[str, Any], position: Position) -> None:
        source = _position(data.get("source"))
        stream = self.stream_of(source.topic if source is not None else "")
        reasons = [r for r in data.get("reasons") or [] if isinstance(r, dict)]
        raw = data.get("raw")
        entry = QuarantineEntry(
            stream=stream,
            source=source,
            position=position,
            reasons=reasons,
            raw=raw if isinstance(raw, str) else orjson.dumps(raw).decode(),
            encoding=str(data.get("encoding") or "utf-8"),
            received_at=_text(data.get("received_at")),
        )
        latest = self.quarantine.get(stream)
        if latest is None:
            latest = self.quarantine[stream] = deque(maxlen=self.quarantine_per_stream)
        latest.append(entry)
        self.quarantine_all.append(entry)
        self.quarantine_seen[stream] += 1
        for code in dict.fromkeys(str(r.get("code")) for r in reasons):
            key = (stream, code[:100])
            self.reasons_seen[key] += 1
            by_reason = self.quarantine_by_reason.get(key)
            if by_reason is None:
                if len(self.quarantine_by_reason) >= self.max_series:
                    continue
                by_reason = self.quarantine_by_reason[key] = deque(
                    maxlen=self.quarantine_per_reason
                )
            by_reason.append(entry)

    def _on_finding(self, data: dict[str, Any], timestamp_s: float) -> None:
        stream = self._bounded_stream(str(data.get("stream") or OTHER))
        kind = str(data.get("kind") or "unknown")[:100]
        if kind == "signals":
            self._on_signal_state(stream, data, timestamp_s)
            return
        self.findings.append(data)
        self.findings_seen[stream, kind] += 1
        statistic, threshold = data.get("statistic"), data.get("threshold")
        if not isinstance(statistic, int | float) or not isinstance(threshold, int | float):
            return
        key = (stream, kind, str(data.get("field") or data.get("dimension") or "_record")[:200])
        points = self.series.get(key)
        if points is None:
            if len(self.series) >= self.max_series:
                return
            points = self.series[key] = deque(maxlen=self.series_points)
        detected = _text(data.get("detected_at")) or ""
        points.append(FindingPoint(detected, timestamp_s, float(statistic), float(threshold)))

    def _on_signal_state(self, stream: str, data: dict[str, Any], timestamp_s: float) -> None:
        source = str(data.get("source") or "?")[:200]
        if (stream, source) not in self.workers and len(self.workers) >= self.max_workers:
            return
        self.workers[stream, source] = WorkerTotals(
            records_in=_int(data.get("records_in")),
            records_quarantined=_int(data.get("records_quarantined")),
            reasons=[r for r in data.get("reasons") or [] if isinstance(r, dict)][:20],
            signals=[s for s in data.get("signals") or [] if isinstance(s, dict)][:50],
            timestamp_s=timestamp_s,
        )
        total_in = sum(w.records_in for (s, _), w in self.workers.items() if s == stream)
        total_q = sum(w.records_quarantined for (s, _), w in self.workers.items() if s == stream)
        history = self.history.get(stream)
        if history is None:
            history = self.history[stream] = deque(maxlen=self.history_points)
        history.append((timestamp_s, total_in, total_q))

    def _on_incident(self, data: dict[str, Any], timestamp_s: float) -> None:
        incident_id = str(data.get("incident_id") or "")[:200]
        if not incident_id:
            self.undecodable += 1
            return
        state = self.incidents.get(incident_id)
        if state is None:
            if len(self.incidents) >= self.max_incidents:
                self._evict_incident()
            state = IncidentState(data, deque(maxlen=self.timeline_entries))
            self.incidents[incident_id] = state
        state.body = data
        signals = [s for s in data.get("signals") or [] if isinstance(s, dict)]
        entry = {
            "status": str(data.get("status") or "?"),
            "at_s": timestamp_s,
            "signals": len(signals),
            "summary": str(data.get("summary") or "")[:300],
        }
        last = state.timeline[-1] if state.timeline else None
        if last is None or (last["status"], last["signals"]) != (entry["status"], len(signals)):
            state.timeline.append(entry)

    def _evict_incident(self) -> None:
        """Forget the incident that ended first (or, none having ended, started first)."""

        def age(item: tuple[str, IncidentState]) -> tuple[int, str]:
            body = item[1].body
            ended = body.get("status") == "resolved"
            return (0 if ended else 1, str(body.get("ended_at") or body.get("started_at")))

        oldest = min(self.incidents.items(), key=age)[0]
        del self.incidents[oldest]

    def _on_inventory(self, stream: str, data: dict[str, Any]) -> None:
        if stream in self.inventory or len(self.inventory) < self.max_streams:
            self.inventory[stream[:200]] = data

    # --- reads ----------------------------------------------------------------------------

    def topics(self) -> list[str]:
        """The topics the store takes (the roles'), in the roles' order."""
        r = self.roles
        names = (r.quarantine, r.findings, r.incidents, r.inventory, r.recommendations)
        return list(dict.fromkeys(names))

    def held(self) -> dict[str, int]:
        """Records kept per topic of the roles (a quarantine record once, however many
        of its pools keep it; the findings topic's signal-state records as the totals
        kept per worker).

        >>> store = ConsoleStore(TopicRoles(findings="f"))
        >>> store.add("f", 0, 0, None, b'{"kind": "schema_drift", "stream": "s"}', 2.0)
        >>> store.held()["f"], store.topic_latest_s
        (1, {'f': 2.0})
        """
        quarantined = {id(e) for pool in self.quarantine.values() for e in pool}
        quarantined.update(id(e) for pool in self.quarantine_by_reason.values() for e in pool)
        r, out = self.roles, dict.fromkeys(self.topics(), 0)
        out[r.quarantine] += len(quarantined)
        out[r.findings] += len(self.findings) + len(self.workers)
        out[r.incidents] += len(self.incidents)
        out[r.inventory] += len(self.inventory)
        out[r.recommendations] += len(self.recommendations)
        return out

    def streams(self) -> list[str]:
        """Every stream seen in any topic, sorted."""
        names = set(self.quarantine) | set(self.history) | set(self.inventory)
        names |= {stream for stream, _ in self.findings_seen}
        names |= {str(s.body.get("stream")) for s in self.incidents.values()}
        return sorted(names)

    def quarantine_latest(
        self, stream: str | None, reason: str | None
    ) -> Iterator[QuarantineEntry]:
        """Quarantine records kept, newest first, of ``stream`` (all when None) with the
        reason code ``reason`` (any when None)."""
        if stream is not None:
            pool = (
                self.quarantine.get(stream, ())
                if reason is None
                else self.quarantine_by_reason.get((stream, reason), ())
            )
            yield from reversed(pool)
            return
        if reason is None:
            yield from reversed(self.quarantine_all)
            return
        pools = [d for (_, code), d in self.quarantine_by_reason.items() if code == reason]
        merged = sorted(
            (e for pool in pools for e in pool),
            key=lambda e: (e.received_at or "", e.position.offset),
            reverse=True,
        )
        yield from merged


def _position(value: Any) -> Position | None:
    if not isinstance(value, dict):
        return None
    try:
        return Position(str(value["topic"]), int(value["partition"]), int(value["offset"]))
    except (KeyError, TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:100]


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
