r"""Reading a worker's /metrics text back: the counters the demo summary and benches need.

Examples
--------
>>> snap = MetricsSnapshot('streamguard_records_in_total{stream="behavior"} 10.0\n'
...                        'streamguard_consumer_lag_records{topic="t",partition="0"} 3.0\n')
>>> snap.total_in, snap.lag
(10, 3.0)
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

    @property
    def total_in(self) -> float:
        """Records read, all streams."""
        return sum(self.records_in.values())
