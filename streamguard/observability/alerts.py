"""Prometheus metrics of the alert path.

Labels are bounded: ``target`` is a configured target name (never its URL), ``kind`` a
finding kind from :data:`FINDING_KINDS` or ``_other``, ``stream`` one of
:data:`STREAMS` or ``_other``, ``severity`` one of :data:`SEVERITIES`, ``status`` a
notification status, ``reason`` a fixed vocabulary.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = AlertMetrics(registry)
>>> metrics.findings.labels(finding_kind("made_up")).inc()
>>> registry.get_sample_value("streamguard_alert_findings_total", {"kind": "_other"})
1.0
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = [
    "DELIVERY_ERRORS",
    "FINDING_KINDS",
    "SEVERITIES",
    "STREAMS",
    "AlertMetrics",
    "finding_kind",
    "stream_label",
]

#: Finding kinds with their own label value; anything else is ``_other``.
FINDING_KINDS: Final = frozenset(
    {"schema_drift", "semantic_drift", "anomaly", "quality_drop", "recommender"}
)
#: ``reason`` values of failed delivery attempts.
DELIVERY_ERRORS: Final = ("http_4xx", "http_429", "http_5xx", "timeout", "connect", "other")


#: Streams with their own label value on incident metrics; anything else is ``_other``.
STREAMS: Final = frozenset({"behavior", "product"})
#: Incident severities (anything else is counted as ``warning``).
SEVERITIES: Final = ("info", "warning", "error", "critical")


def stream_label(stream: str) -> str:
    """A bounded label value for a stream name.

    >>> stream_label("behavior"), stream_label("x" * 300)
    ('behavior', '_other')
    """
    return stream if stream in STREAMS else "_other"


def finding_kind(kind: str) -> str:
    """A bounded label value for a finding kind."""
    return kind if kind in FINDING_KINDS else "_other"


class AlertMetrics:
    """Counters and gauges of the alert manager and its delivery threads."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.findings = Counter(
            "streamguard_alert_findings_total",
            "Findings submitted to the alert manager.",
            ["kind"],
            registry=r,
        )
        self.sent = Counter(
            "streamguard_alert_notifications_sent_total",
            "Notifications a target accepted (2xx), by status (firing, resolved).",
            ["target", "status"],
            registry=r,
        )
        self.failed = Counter(
            "streamguard_alert_notifications_failed_total",
            "Notifications given up on (attempts exhausted or refused with a 4xx).",
            ["target"],
            registry=r,
        )
        self.dropped = Counter(
            "streamguard_alert_notifications_dropped_total",
            "Notifications dropped unsent (outbox_full: the oldest made room; "
            "incident_limit: too many open incidents; shutdown: still queued at stop).",
            ["target", "reason"],
            registry=r,
        )
        self.attempt_errors = Counter(
            "streamguard_alert_delivery_errors_total",
            "Failed delivery attempts (each retry counts), by reason.",
            ["target", "reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "streamguard_alert_rate_limited_total",
            "Times a delivery waited for the target's rate limit.",
            ["target"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "streamguard_alert_outbox_notifications",
            "Notifications waiting in a target's outbox.",
            ["target"],
            registry=r,
        )
        self.outbox_bytes = Gauge(
            "streamguard_alert_outbox_bytes",
            "Bytes of request bodies waiting in a target's outbox.",
            ["target"],
            registry=r,
        )
        self.active_signals = Gauge(
            "streamguard_alert_active_signals",
            "Incident groups (stream/kind/field) whose condition holds now, by finding kind: "
            "their incidents stay open until it clears and the quiet period passes.",
            ["kind"],
            registry=r,
        )
        self.incidents_open = Gauge(
            "streamguard_incidents_open",
            "Open incidents (one per stream episode, on the worker that owns the stream's "
            "findings partition), by stream and severity.",
            ["stream", "severity"],
            registry=r,
        )
        self.incident_signals = Gauge(
            "streamguard_incident_signals",
            "Signals carried by the stream's open incidents.",
            ["stream"],
            registry=r,
        )
        self.notifications = Counter(
            "streamguard_incident_notifications_total",
            "Incident state changes (firing, updated, resolved), whether sent or not "
            "(linked incidents are published, not paged).",
            ["status"],
            registry=r,
        )
