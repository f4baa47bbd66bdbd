"""Correlation: findings and signals of one stream episode join one incident.

The rules (pure: the clock is passed in, nothing is sent here):

- **Join.** A finding, or the onset of an active signal, of stream S joins the open
  incident of S that already holds that signal; otherwise the newest open incident of S
  that began within ``correlation_window_s``; otherwise it opens a new incident (a
  signal that begins after the window opens a new one).
- **Group wait.** A new incident is notified (``firing``) ``group_wait_s`` after it
  opened, so the signals of one burst arrive in one page, not one page per field.
- **Updates.** A signal joining a notified incident (or a severity rise) does not page
  again: at most one ``updated`` per ``update_interval_s`` (0: never).
- **Severity** is the highest of its signals'.
- **Resolve.** An incident resolves once none of its signals is active (any source
  reporting it within ``signal_ttl_s``) and ``quiet_period_s`` has passed since the last
  finding or the last moment one of its signals held. Kinds without signal reports
  (anomalies) resolve a quiet period after their last finding.
- **Flap.** A signal of S within ``flap_window_s`` of an incident of S resolving reopens
  that incident (same ``incident_id``, ``reopened`` + 1, an ``updated`` notification),
  instead of opening a new one.
- **Related.** An incident whose signals are all catalogue-join signals (``quality_drop``
  of the ``consistency`` dimension: unknown products, prices off the catalogue) on a
  stream whose upstream (``upstream``: behaviour reads the product catalogue) has a
  notified open incident is linked to it (``related`` on both) and does not page; the
  upstream incident's next update lists it. It pages on its own once it gains another
  signal.

Signal states come per source (a worker) with its running record counters, so an
incident's resolve carries records in and quarantined during it and the top reasons.

Examples
--------
>>> from streamguard.events.signals import Signal
>>> ids = iter(["inc-a", "inc-b"])
>>> book = IncidentBook(group_wait_s=5, quiet_period_s=60, ids=lambda: next(ids))
>>> drop = {"kind": "quality_drop", "stream": "behavior", "field": None,
...         "dimension": "validity", "severity": "critical", "statistic": 0.4,
...         "threshold": 0.98}
>>> book.observe(drop, now=0.0)
>>> book.observe({**drop, "field": "user_id", "dimension": "completeness",
...               "severity": "warning"}, now=1.0)
>>> book.tick(now=2.0)   # waiting for the rest of the burst
[]
>>> [(n.status, n.body["incident_id"], len(n.body["signals"])) for n in book.tick(now=5.0)]
[('firing', 'inc-a', 2)]
>>> held = Signal("quality_drop", "behavior", None, 0.4, 0.98, since=0.0,
...               dimension="validity")
>>> book.observe_signals([held], now=100.0, streams=["behavior"])
>>> book.tick(now=150.0)  # a signal still holds
[]
>>> book.observe_signals([], now=160.0, streams=["behavior"])
>>> [n.status for n in book.tick(now=221.0)]
['resolved']
"""

from __future__ import annotations

import numbers
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from streamguard.alerts.incident import SEVERITY_RANK, Incident
from streamguard.alerts.targets import Notification
from streamguard.events.signals import Signal

__all__ = ["DEFAULT_UPSTREAM", "IncidentBook", "group_key", "validate_finding"]

#: stream -> the streams it depends on (behaviour events are checked against the catalogue).
DEFAULT_UPSTREAM: Final[Mapping[str, tuple[str, ...]]] = {"behavior": ("product",)}
_Counts = tuple[int, int, dict[tuple[str, str | None], int]]


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
    """A signal's key, ``stream/kind/field`` (the dimension stands in for a missing field).

    >>> group_key({"kind": "quality_drop", "stream": "product", "dimension": "validity"})
    'product/quality_drop/validity'
    """
    field = finding.get("field") or finding.get("dimension") or "_record"
    return f"{finding['stream']}/{finding['kind']}/{field}"


def _number(value: Any) -> float | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _catalogue_signal(incident: Incident) -> bool:
    return bool(incident.signals) and all(
        s.kind == "quality_drop" and s.dimension == "consistency" for s in incident.signals.values()
    )


class IncidentBook:
    """Every incident of the streams this book owns, by id. See the module docs."""

    def __init__(
        self,
        *,
        correlation_window_s: float = 120.0,
        quiet_period_s: float = 300.0,
        group_wait_s: float = 10.0,
        update_interval_s: float = 600.0,
        flap_window_s: float = 600.0,
        signal_ttl_s: float = 30.0,
        max_open: int = 500,
        upstream: Mapping[str, tuple[str, ...]] = DEFAULT_UPSTREAM,
        ids: Callable[[], str] | None = None,
    ) -> None:
        if quiet_period_s <= 0 or correlation_window_s < 0 or max_open < 1:
            raise ValueError("quiet_period_s > 0, correlation_window_s >= 0, max_open >= 1")
        self.correlation_window_s = correlation_window_s
        self.quiet_period_s = quiet_period_s
        self.group_wait_s = group_wait_s
        self.update_interval_s = update_interval_s
        self.flap_window_s = flap_window_s
        self.signal_ttl_s = signal_ttl_s
        self.max_open = max_open
        self.upstream = upstream
        self.refused = 0
        self._ids = ids or (lambda: str(uuid.uuid4()))
        self._incidents: dict[str, Incident] = {}  # open ones and those within the flap
        # stream -> source -> (reported at, active signals by key)
        self._reports: dict[str, dict[str, tuple[float, dict[str, Signal]]]] = {}
        self._last_counts: dict[tuple[str, str], _Counts] = {}  # (stream, source) -> counts
        self._totals: dict[str, _Counts] = {}  # stream -> running totals over sources

    # --- reading -------------------------------------------------------------------------

    @property
    def open_count(self) -> int:
        """How many incidents are open (pending or firing)."""
        return sum(i.open for i in self._incidents.values())

    def open_incidents(self, stream: str | None = None) -> list[Incident]:
        """The open incidents (of ``stream``), oldest first."""
        return sorted(
            (i for i in self._incidents.values() if i.open and stream in (None, i.stream)),
            key=lambda i: i.started,
        )

    def active(self, stream: str, now: float) -> dict[str, Signal]:
        """The active signals of ``stream``: any source's within ``signal_ttl_s``."""
        out: dict[str, Signal] = {}
        for at, signals in self._reports.get(stream, {}).values():
            if now - at <= self.signal_ttl_s:
                out.update(signals)
        return out

    def active_by_kind(self, now: float) -> dict[str, int]:
        """Active signals per finding kind, over every stream."""
        counts: dict[str, int] = {}
        for stream in self._reports:
            for signal in self.active(stream, now).values():
                counts[signal.kind] = counts.get(signal.kind, 0) + 1
        return counts

    # --- input ---------------------------------------------------------------------------

    def _home(self, stream: str, key: str, now: float) -> Incident | None:
        """The incident a signal ``key`` of ``stream`` joins now (opened if need be)."""
        candidates = self.open_incidents(stream)
        for incident in candidates:
            if key in incident.signals:
                return incident
        within = [i for i in candidates if now - i.started <= self.correlation_window_s]
        if within:
            return within[-1]
        flapped = [
            i
            for i in self._incidents.values()
            if i.stream == stream and not i.open and now - (i.ended or 0) <= self.flap_window_s
        ]
        if flapped:
            incident = max(flapped, key=lambda i: i.ended or 0)
            incident.status, incident.ended = "firing", None
            incident.reopened += 1
            incident.dirty = True
            incident.last_notified = None  # the reopen is told at the next tick
            return incident
        if self.open_count >= self.max_open:
            self.refused += 1
            return None
        incident = Incident(self._ids(), stream, started=now)
        self._incidents[incident.incident_id] = incident
        totals = self._totals.get(stream)
        if totals is not None:
            incident.account(*totals)
        return incident

    def observe(self, finding: Mapping[str, Any], now: float) -> None:
        """Account for one finding (DESIGN.md finding format)."""
        validate_finding(finding)
        stream, key = finding["stream"], group_key(finding)
        incident = self._home(stream, key, now)
        if incident is None:
            return
        dimension = finding.get("dimension")
        joined = incident.add_signal(
            key,
            finding["kind"],
            finding.get("field"),
            _number(finding.get("statistic")),
            _number(finding.get("threshold")),
            since=now,
            severity=str(finding.get("severity") or "warning"),
            dimension=dimension if isinstance(dimension, str) else None,
        )
        incident.dirty |= joined
        incident.findings += 1
        incident.last_activity = max(incident.last_activity, now)
        positions: list[Any] = [finding.get("position")]
        examples = finding.get("examples")
        if isinstance(examples, list):
            positions += [e.get("position") for e in examples if isinstance(e, Mapping)]
        incident.add_examples([p for p in positions if isinstance(p, Mapping)])

    def observe_signals(
        self,
        signals: Iterable[Signal],
        now: float,
        *,
        streams: Iterable[str],
        source: str = "local",
        counts: Mapping[str, _Counts] | None = None,
    ) -> None:
        """The active signals of ``streams`` (all of them: a stream listed without
        signals has none) as ``source`` reports them at ``now``, with that source's
        running counters per stream (records in, quarantined, reasons by (code, field))."""
        by_stream: dict[str, dict[str, Signal]] = {stream: {} for stream in streams}
        for signal in signals:
            by_stream.setdefault(signal.stream, {})[signal.group_key] = signal
        for stream, reported in by_stream.items():
            previous = self._reports.setdefault(stream, {}).get(source)
            if previous is not None and now - previous[0] <= self.signal_ttl_s:
                cleared = previous[1].keys() - reported.keys()
                for incident in self.open_incidents(stream):
                    if not cleared.isdisjoint(incident.signals):  # cleared just now
                        incident.last_activity = max(incident.last_activity, now)
            self._reports[stream][source] = (now, reported)
            if counts is not None and stream in counts:
                self._add_counts(stream, source, counts[stream])
            active = self.active(stream, now)
            for key, signal in active.items():
                home = self._home(stream, key, now)
                if home is None:
                    continue
                home.dirty |= home.add_signal(
                    key,
                    signal.kind,
                    signal.field,
                    signal.statistic,
                    signal.threshold,
                    since=signal.since,
                    dimension=signal.dimension,
                )
                home.last_activity = max(home.last_activity, now)
            totals = self._totals.get(stream)
            if totals is not None:
                for incident in self.open_incidents(stream):
                    incident.account(*totals)

    def _add_counts(self, stream: str, source: str, now_counts: _Counts) -> None:
        """Fold one source's running counters into the stream's totals (a source whose
        counters went down restarted: its new counts are all new)."""
        last = self._last_counts.get((stream, source))
        self._last_counts[stream, source] = now_counts
        total_in, total_q, total_reasons = self._totals.get(stream, (0, 0, {}))
        if last is None:
            self._totals[stream] = (total_in, total_q, total_reasons)
            return
        records_in, quarantined, reasons = now_counts
        restarted = records_in < last[0]
        base_in, base_q, base_reasons = (0, 0, {}) if restarted else last
        merged = dict(total_reasons)
        for key, count in reasons.items():
            grown = count - base_reasons.get(key, 0)
            if grown > 0:
                merged[key] = merged.get(key, 0) + grown
        self._totals[stream] = (
            total_in + max(records_in - base_in, 0),
            total_q + max(quarantined - base_q, 0),
            merged,
        )

    # --- state changes -------------------------------------------------------------------

    def tick(self, now: float) -> list[Notification]:
        """The notifications due at ``now``: firings after the group wait, throttled
        updates, reopens, resolves. Call about once a second."""
        out: list[Notification] = []
        for incident in sorted(self._incidents.values(), key=lambda i: i.started):
            if not incident.open:
                continue
            active = self.active(incident.stream, now)
            if any(key in active for key in incident.signals):
                incident.last_activity = now
            if incident.status == "pending":
                if now - incident.started >= self.group_wait_s:
                    out += self._fire(incident, now)
            elif now - incident.last_activity >= self.quiet_period_s:
                incident.status, incident.ended = "resolved", now
                out.append(self._notify(incident, "resolved", now))
            elif incident.last_notified is None:  # reopened
                out.append(self._notify(incident, "updated", now))
            elif incident.linked_to is not None and not _catalogue_signal(incident):
                incident.linked_to = None  # a cause of its own now: page
                out.append(self._notify(incident, "firing", now))
            elif (
                incident.dirty
                and self.update_interval_s > 0
                and now - incident.last_notified >= self.update_interval_s
            ):
                out.append(self._notify(incident, "updated", now))
        self._prune(now)
        return out

    def _fire(self, incident: Incident, now: float) -> list[Notification]:
        incident.status = "firing"
        if _catalogue_signal(incident):
            for stream in self.upstream.get(incident.stream, ()):
                cause = next((i for i in self.open_incidents(stream) if i.status == "firing"), None)
                if cause is not None:
                    incident.linked_to = cause.incident_id
                    incident.related.append(cause.incident_id)
                    cause.related.append(incident.incident_id)
                    cause.dirty = True
                    break
        return [self._notify(incident, "firing", now)]

    def _notify(self, incident: Incident, status: str, now: float) -> Notification:
        incident.last_notified = now
        incident.dirty = False
        return Notification(
            status,  # type: ignore[arg-type]
            incident.body(status, now),
            notify=incident.linked_to is None,
        )

    def _prune(self, now: float) -> None:
        for incident_id in [
            i.incident_id
            for i in self._incidents.values()
            if not i.open and now - (i.ended or 0) > self.flap_window_s
        ]:
            del self._incidents[incident_id]
        for stream, sources in self._reports.items():
            for source in [s for s, (at, _) in sources.items() if now - at > 10 * 60]:
                del sources[source]  # a source gone for ten minutes
                self._last_counts.pop((stream, source), None)

    # --- ownership -----------------------------------------------------------------------

    def restore(self, record: Mapping[str, Any], now: float) -> bool:
        """Take over an incident from its topic record (latest state): an open one stays
        open (no new firing), a resolved one within the flap window can reopen."""
        incident = Incident.from_record(record)
        if not incident.open and now - (incident.ended or 0) > self.flap_window_s:
            return False
        incident.last_activity = now
        incident.last_notified = now
        self._incidents[incident.incident_id] = incident
        return True

    def forget(self, streams: Iterable[str]) -> None:
        """Drop the incidents and reports of ``streams`` (another owner took them over)."""
        gone = set(streams)
        for incident_id in [i.incident_id for i in self._incidents.values() if i.stream in gone]:
            del self._incidents[incident_id]
        for stream in gone:
            self._reports.pop(stream, None)
            self._totals.pop(stream, None)
        for key in [k for k in self._last_counts if k[0] in gone]:
            del self._last_counts[key]

    def severities(self) -> dict[tuple[str, str], int]:
        """Open incidents by (stream, severity)."""
        counts: dict[tuple[str, str], int] = {}
        for incident in self.open_incidents():
            severity = incident.severity if incident.severity in SEVERITY_RANK else "warning"
            counts[incident.stream, severity] = counts.get((incident.stream, severity), 0) + 1
        return counts
