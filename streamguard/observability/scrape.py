r"""Reading a worker's /metrics text back: the counters the demo summary and benches need.

Examples
--------
>>> snap = MetricsSnapshot('streamguard_records_in_total{stream="behavior"} 10.0\n'
...                        'streamguard_consumer_lag_records{topic="t",partition="0"} 3.0\n')
>>> snap.total_in, snap.lag
(10, 3.0)
>>> snap = MetricsSnapshot(
...     'streamguard_quality_score{stream="behavior",dimension="validity",field="_all"} 0.5\n'
...     'streamguard_quality_score{stream="behavior",dimension="completeness",field="ts"} 0.1\n'
...     'streamguard_findings_total{stream="product",kind="semantic_drift",field="x"} 1.0\n'
...     'streamguard_quality_drop_findings_total{stream="behavior"} 2.0\n'
...     'streamguard_alert_notifications_sent_total{target="w",status="firing"} 1.0\n')
>>> snap.quality, snap.alerts_sent["firing"]
({('behavior', 'validity'): 0.5}, 1)
>>> sorted(snap.findings.items())
[(('behavior', 'quality_drop'), 2), (('product', 'semantic_drift'), 1)]
"""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsSnapshot"]


class MetricsSnapshot:
    """The counters of one /metrics scrape that the summary needs."""

    def __init__(self, text: str) -> None:
        self.records_in: Counter[str] = Counter()
        self.records_out: Counter[tuple[str, str]] = Counter()
        self.reasons: Counter[str] = Counter()
        self.corrections: Counter[str] = Counter()
        self.lag = 0.0
        #: Stream-level quality scores by (stream, dimension); ``composite`` is the score.
        self.quality: dict[tuple[str, str], float] = {}
        #: Findings emitted by (stream, kind): drift, anomaly and quality drops.
        self.findings: Counter[tuple[str, str]] = Counter()
        #: Alert notifications targets accepted, by status (firing, resolved, ...).
        self.alerts_sent: Counter[str] = Counter()
        # Open incidents: per stream (streamguard_incidents_open) where the worker has it,
        # else per kind (streamguard_alert_open_incidents).
        self._incidents: dict[str, float] = {}
        #: Recommendation lists published.
        self.recommendations = 0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "streamguard_records_in_total":
                    self.records_in[labels["stream"]] += int(sample.value)
                elif sample.name == "streamguard_records_out_total":
                    self.records_out[labels["stream"], labels["outcome"]] += int(sample.value)
                elif sample.name == "streamguard_quarantine_reasons_total":
                    self.reasons[f"{labels['reason']}({labels['field']})"] += int(sample.value)
                elif sample.name == "streamguard_corrections_total":
                    self.corrections[labels.get("rule", "?")] += int(sample.value)
                elif sample.name == "streamguard_consumer_lag_records":
                    self.lag += sample.value
                else:
                    self._read_monitors(sample.name, labels, sample.value)

    def _read_monitors(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == "streamguard_quality_score" and labels.get("field") == "_all":
            self.quality[labels["stream"], labels["dimension"]] = value
        elif name == "streamguard_findings_total":
            self.findings[labels["stream"], labels["kind"]] += int(value)
        elif name == "streamguard_quality_drop_findings_total":
            self.findings[labels["stream"], "quality_drop"] += int(value)
        elif name == "streamguard_alert_notifications_sent_total":
            self.alerts_sent[labels.get("status", "?")] += int(value)
        elif name in ("streamguard_alert_open_incidents", "streamguard_incidents_open"):
            self._incidents[name] = self._incidents.get(name, 0.0) + value
        elif name == "streamguard_recommendations_published_total":
            self.recommendations += int(value)

    @property
    def open_incidents(self) -> float:
        """Open incidents, all streams."""
        by_stream = self._incidents.get("streamguard_incidents_open")
        return (
            by_stream
            if by_stream is not None
            else self._incidents.get("streamguard_alert_open_incidents", 0.0)
        )

    @property
    def total_in(self) -> float:
        """Records read, all streams."""
        return sum(self.records_in.values())
