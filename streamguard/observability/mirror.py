"""Metric families collected in another process, exposed in this one's registry.

A child process (the recommender) keeps its own registry; it sends
:func:`collect_families` of it to the parent with each answer, and the parent's
:class:`MirroredFamilies`, registered once, yields the latest of them on every scrape as
if they were its own.

Examples
--------
>>> from prometheus_client import CollectorRegistry, Counter
>>> theirs = CollectorRegistry()
>>> events = Counter("demo_events_total", "Events.", registry=theirs)
>>> ours = CollectorRegistry()
>>> mirror = MirroredFamilies(collect_families(theirs))
>>> ours.register(mirror)
>>> events.inc(3)
>>> ours.get_sample_value("demo_events_total")
0.0
>>> mirror.families = collect_families(theirs)
>>> ours.get_sample_value("demo_events_total")
3.0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

__all__ = ["MirroredFamilies", "collect_families"]


def collect_families(registry: CollectorRegistry) -> list[Metric]:
    """The registry's metric families now (picklable: they can cross to another process)."""
    return list(registry.collect())


class MirroredFamilies:
    """A Prometheus collector that yields the metric families last given to it.

    ``families`` starts as the families to declare (so panels show 0, not "no data",
    before the first update) and is replaced whole by each update.
    """

    def __init__(self, families: Iterable[Metric] = ()) -> None:
        self.families: list[Metric] = list(families)

    def describe(self) -> list[Metric]:
        return self.families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
