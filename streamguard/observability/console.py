"""The console's own metrics (``streamguard console``'s ``/metrics``), in Prometheus text.

* ``streamguard_console_requests_total{page, status}`` and
  ``streamguard_console_request_duration_seconds{page}``: the requests answered, by route
  (the route's pattern, ``/api/quarantine``, never the requested path or its query; a
  path no route matches counts as ``unmatched``) and HTTP status.
* ``streamguard_console_records_held{topic}``: the records of each topic the console keeps
  in memory; ``streamguard_console_last_message_age_seconds{topic}``: seconds since the
  newest record read from it (by the record's timestamp; a topic not read yet has none).
* ``streamguard_console_kafka_following``: 1 while the topic reader follows the topics.

Labels are route patterns, status codes and topic names from the settings: nothing a
record or a request carries. The topic gauges are read at scrape time from
:attr:`ConsoleMetrics.topics` (set by the console), so they are never stale.

Examples
--------
>>> metrics = ConsoleMetrics()
>>> metrics.observe("/api/findings", 200, 0.004)
>>> metrics.topics = lambda: TopicsNow({"streamguard.findings": 3}, {"streamguard.findings": 12.5})
>>> metrics.following = lambda: True
>>> body, content_type = metrics.exposition()
>>> text = body.decode()
>>> 'streamguard_console_requests_total{page="/api/findings",status="200"} 1.0' in text
True
>>> 'streamguard_console_records_held{topic="streamguard.findings"} 3.0' in text
True
>>> "streamguard_console_kafka_following 1.0" in text, content_type.startswith("text/plain")
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = ["REQUEST_BUCKETS", "ConsoleMetrics", "TopicsNow"]

#: Request latency buckets (seconds): a page is rendered from memory in milliseconds;
#: the streams page waits for Prometheus when ``--prometheus`` is given.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class TopicsNow:
    """Per topic: the records held, and the age (seconds) of the newest one read."""

    held: Mapping[str, int] = field(default_factory=dict)
    age_s: Mapping[str, float] = field(default_factory=dict)


class _ScrapeTime:
    """A collector asking the console for its topics and reader state on every scrape."""

    def __init__(self, owner: ConsoleMetrics) -> None:
        self._owner = owner

    def describe(self) -> list[Metric]:
        return list(self._families(TopicsNow(), following=None))

    def collect(self) -> Iterator[Metric]:
        owner = self._owner
        yield from self._families(owner.topics(), following=owner.following())

    @staticmethod
    def _families(now: TopicsNow, following: bool | None) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            "streamguard_console_records_held",
            "Records of each topic the console keeps in memory.",
            labels=["topic"],
        )
        for topic, count in sorted(now.held.items()):
            held.add_metric([topic], float(count))
        age = GaugeMetricFamily(
            "streamguard_console_last_message_age_seconds",
            "Seconds since the newest record read from each topic (by its timestamp).",
            labels=["topic"],
        )
        for topic, seconds in sorted(now.age_s.items()):
            age.add_metric([topic], max(0.0, seconds))
        reader = GaugeMetricFamily(
            "streamguard_console_kafka_following",
            "1 while the console's topic reader follows the topics, else 0.",
            value=1.0 if following else 0.0,
        )
        yield from (held, age, reader)


class ConsoleMetrics:
    """The console's metrics in a registry of their own (see the module docs)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "streamguard_console_requests_total",
            "Requests answered, by route pattern and HTTP status.",
            ["page", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "streamguard_console_request_duration_seconds",
            "Time to answer a request, by route pattern.",
            ["page"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        #: The topics now (the console sets it; asked on every scrape).
        self.topics: Callable[[], TopicsNow] = TopicsNow
        #: Whether the topic reader follows the topics now (the console sets it).
        self.following: Callable[[], bool] = lambda: False
        self.registry.register(_ScrapeTime(self))

    def observe(self, page: str, status: int, seconds: float) -> None:
        """Count one answered request of the route ``page`` and its latency."""
        self.requests.labels(page=page, status=str(status)).inc()
        self.latency.labels(page=page).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
