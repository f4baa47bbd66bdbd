"""What ``streamguard demo`` prints: pure formatting of what the demo saw.

:func:`format_summary` turns one /metrics scrape into lines (routing, quality, findings,
alerts, recommendations). :class:`DemoView` keeps what arrives between summaries — the
webhook notifications of incidents, the findings and recommendations read from their
topics — and :meth:`DemoView.lines` says what changed. Times are seconds since the demo
started producing; nothing here reads a clock or does I/O.

Examples
--------
>>> view = DemoView()
>>> view.on_notification({"status": "firing", "incident_id": "i1", "stream": "behavior",
...     "severity": "critical", "signals": [{"kind": "quality_drop", "field": None,
...     "dimension": "validity"}, {"kind": "quality_drop", "field": "user_id"}]}, at_s=17.2)
>>> view.on_finding({"kind": "semantic_drift", "stream": "product", "field": "description",
...                  "statistic": 0.93, "threshold": 0.31}, at_s=31.0)
>>> view.on_recommendation({"user_id": "u7", "items": [{"product_id": "p1", "score": 0.9},
...                         {"product_id": "p2", "score": 0.4}]})
>>> print("\\n".join(view.lines(now_s=20.0)))
  incident FIRING   +17s behavior [critical]: quality_drop on validity, quality_drop on user_id
  incidents open: behavior since +17s (2 signals)
  drift: semantic_drift on product.description (0.93 > 0.31) at +31s
  recommendations: 1 list published, e.g. u7 -> p1 (0.90), p2 (0.40)
>>> view.on_notification({"status": "resolved", "incident_id": "i1", "stream": "behavior",
...                       "summary": "behavior: 2 signals"}, at_s=33.0)
>>> print("\\n".join(view.lines(now_s=35.0)))
  incident RESOLVED +33s behavior after 16s: behavior: 2 signals
  incidents open: none
  drift: semantic_drift on product.description (0.93 > 0.31) at +31s
  recommendations: 1 list published, e.g. u7 -> p1 (0.90), p2 (0.40)
>>> print("\\n".join(view.timeline()))
  +17s FIRING   behavior [critical]: quality_drop on validity, quality_drop on user_id
  +33s RESOLVED behavior after 16s: behavior: 2 signals
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamguard.observability.scrape import MetricsSnapshot

__all__ = ["DemoView", "IncidentState", "format_summary"]

_DIMENSIONS = ("validity", "completeness", "timeliness", "consistency", "uniqueness", "anomaly")
_DRIFT_KINDS = ("schema_drift", "semantic_drift")


def format_summary(
    now: MetricsSnapshot, before: MetricsSnapshot | None, seconds: float, produced: int
) -> str:
    """A few lines for a human: rates, outcomes, reasons, quality, findings, alerts.

    >>> text = 'streamguard_records_in_total{stream="behavior"} 10.0\\n' \\
    ...        'streamguard_records_out_total{stream="behavior",outcome="valid"} 9.0\\n' \\
    ...        'streamguard_records_out_total{stream="behavior",outcome="quarantine"} 1.0\\n'
    >>> print(format_summary(MetricsSnapshot(text), None, 2.0, 12))
    produced 12 | checked 10 (5/s) | lag 0
      behavior: valid 9 (90.0%), corrected 0 (0.0%), quarantine 1 (10.0%)
    >>> text += ('streamguard_quality_score{stream="behavior",dimension="composite",'
    ...          'field="_all"} 0.8\\n'
    ...          'streamguard_quality_score{stream="behavior",dimension="validity",'
    ...          'field="_all"} 0.6\\n'
    ...          'streamguard_quality_drop_findings_total{stream="behavior"} 2.0\\n'
    ...          'streamguard_alert_notifications_sent_total{target="w",status="firing"} 1\\n')
    >>> print(format_summary(MetricsSnapshot(text), None, 2.0, 12))
    produced 12 | checked 10 (5/s) | lag 0
      behavior: valid 9 (90.0%), corrected 0 (0.0%), quarantine 1 (10.0%)
      quality: behavior 0.80 (validity 0.60)
      findings: behavior quality_drop 2
      alerts sent: firing 1, resolved 0
    """
    rate = (now.total_in - (before.total_in if before else 0.0)) / seconds if seconds else 0.0
    lines = [f"produced {produced} | checked {now.total_in:.0f} ({rate:.0f}/s) | lag {now.lag:.0f}"]
    for stream in sorted(now.records_in):
        outcomes = {o: now.records_out[stream, o] for o in ("valid", "corrected", "quarantine")}
        total = sum(outcomes.values()) or 1.0
        parts = ", ".join(f"{o} {n:.0f} ({100 * n / total:.1f}%)" for o, n in outcomes.items())
        lines.append(f"  {stream}: {parts}")
    if now.reasons:
        top = ", ".join(f"{k} {v:.0f}" for k, v in now.reasons.most_common(5))
        lines.append(f"  top reasons: {top}")
    if now.corrections:
        top = ", ".join(f"{k} {v:.0f}" for k, v in now.corrections.most_common(5))
        lines.append(f"  corrections: {top}")
    lines += _quality_lines(now)
    found = ", ".join(f"{s} {k} {n}" for (s, k), n in sorted(now.findings.items()) if n)
    if found:
        lines.append(f"  findings: {found}")
    if now.alerts_sent:
        lines.append(
            f"  alerts sent: firing {now.alerts_sent['firing']}, "
            f"resolved {now.alerts_sent['resolved']}"
            + (f", updated {now.alerts_sent['updated']}" if now.alerts_sent["updated"] else "")
        )
    return "\n".join(lines)


def _quality_lines(now: MetricsSnapshot) -> list[str]:
    lines = []
    streams = sorted({stream for stream, _ in now.quality})
    for i, stream in enumerate(streams):
        composite = now.quality.get((stream, "composite"))
        dims = ", ".join(
            f"{d} {now.quality[stream, d]:.2f}" for d in _DIMENSIONS if (stream, d) in now.quality
        )
        score = f"{composite:.2f}" if composite is not None else "-"
        label = "  quality: " if i == 0 else "           "
        lines.append(f"{label}{stream} {score} ({dims})")
    return lines


@dataclass
class IncidentState:
    """One incident as its notifications told it."""

    key: str
    stream: str
    severity: str
    signals: list[str]
    opened_s: float
    resolved_s: float | None = None
    summary: str = ""


def _signals(body: dict[str, Any]) -> list[str]:
    """``kind on field`` for each signal (DESIGN's ``signals``; or the older one-group body)."""
    out = []
    for signal in body.get("signals") or ():
        if isinstance(signal, dict):
            where = signal.get("field") or signal.get("dimension") or "-"
            out.append(f"{signal.get('kind', '?')} on {where}")
    if not out and body.get("kind"):
        where = body.get("field") or str(body.get("group_key", "")).rpartition("/")[2] or "-"
        out.append(f"{body['kind']} on {where}")
    return out


@dataclass
class DemoView:
    """What the demo saw between summaries (thread-safe: sources feed it from threads)."""

    incidents: dict[str, IncidentState] = field(default_factory=dict)
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)
    drift: dict[tuple[str, str, str], str] = field(default_factory=dict)
    recommendations: int = 0
    example: str | None = None
    _events: list[str] = field(default_factory=list)
    _timeline: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_notification(self, body: dict[str, Any], at_s: float) -> None:
        """A webhook body (DESIGN.md's generic alert webhook) that arrived at ``at_s``."""
        key = str(body.get("incident_id") or body.get("group_key") or "?")
        status = str(body.get("status", "?"))
        stream = str(body.get("stream", "?"))
        with self._lock:
            incident = self.incidents.get(key)
            if incident is None or (status == "firing" and incident.resolved_s is not None):
                incident = IncidentState(key, stream, str(body.get("severity", "?")), [], at_s)
                self.incidents[key] = incident
            incident.signals = _signals(body) or incident.signals
            incident.severity = str(body.get("severity") or incident.severity)
            incident.summary = str(body.get("summary") or incident.summary)
            if status == "resolved":
                incident.resolved_s = at_s
                rest = f"{stream} after {at_s - incident.opened_s:.0f}s: {incident.summary}"
            else:
                rest = f"{stream} [{incident.severity}]: {', '.join(incident.signals)}"
            label = f"{status.upper():<8}"
            self._events.append(f"  incident {label} +{at_s:.0f}s {rest}")
            self._timeline.append(f"  +{at_s:.0f}s {label} {rest}")

    def on_finding(self, finding: dict[str, Any], at_s: float) -> None:
        """A record of the findings topic, read at ``at_s``."""
        kind, stream = str(finding.get("kind")), str(finding.get("stream"))
        with self._lock:
            self.findings[stream, kind] += 1
            where = (kind, stream, str(finding.get("field")))
            if kind in _DRIFT_KINDS and where not in self.drift:
                self.drift[where] = (
                    f"{kind} on {stream}.{finding.get('field')} "
                    f"({_num(finding.get('statistic'))} > {_num(finding.get('threshold'))}) "
                    f"at +{at_s:.0f}s"
                )

    def on_recommendation(self, value: dict[str, Any]) -> None:
        """A record of the recommendations topic."""
        items = [i for i in value.get("items") or () if isinstance(i, dict)]
        with self._lock:
            self.recommendations += 1
            if items and (self.example is None or (len(items) >= 3 and "," not in self.example)):
                shown = ", ".join(
                    f"{i.get('product_id')} ({_num(i.get('score'))})" for i in items[:3]
                )
                self.example = f"{value.get('user_id')} -> {shown}"

    def lines(self, now_s: float) -> list[str]:
        """Incident changes since the last call, open incidents, drift, recommendations."""
        with self._lock:
            out, self._events = self._events, []
            open_ = [i for i in self.incidents.values() if i.resolved_s is None]
            if open_:
                listed = "; ".join(
                    f"{i.stream} since +{i.opened_s:.0f}s ({len(i.signals)} signal"
                    f"{'s' if len(i.signals) != 1 else ''})"
                    for i in open_[:5]
                )
                more = f" and {len(open_) - 5} more" if len(open_) > 5 else ""
                out.append(f"  incidents open: {listed}{more}")
            elif self.incidents:
                out.append("  incidents open: none")
            out += [f"  drift: {text}" for text in self.drift.values()]
            if self.recommendations:
                s = "s" if self.recommendations != 1 else ""
                example = f", e.g. {self.example}" if self.example else ""
                out.append(f"  recommendations: {self.recommendations} list{s} published{example}")
        return out

    def timeline(self) -> list[str]:
        """Every incident change so far, in arrival order."""
        with self._lock:
            return list(self._timeline)


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else str(value)
