"""The worker's once-a-second round: readiness, stalled tails, gauges, quiet windows.

Readiness (``/readyz``) needs two conditions this module keeps: ``assigned`` (the
consumer holds partitions and table recovery is done) and ``broker`` (a bootstrap
broker accepts connections: Faust's clients retry quietly while it is down, so it
needs its own probe).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, cast

import faust

from streamguard.app.recovery import Recovery
from streamguard.app.reporting import FindingsReporter
from streamguard.observability.health import Health
from streamguard.observability.metrics import WorkerMetrics
from streamguard.quality.scorer import QualityScorer
from streamguard.runtime.heap import CollectionTimer
from streamguard.validate.dedupe import DedupeBudget

__all__ = ["HealthTick", "broker_reachable"]


async def broker_reachable(bootstrap: str) -> bool:
    """Whether any broker of ``bootstrap`` accepts a TCP connection within a second.

    A TCP connect is what works the same with TLS and SASL; the clients' own errors
    are in the log.
    """
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


class HealthTick:
    """Run :meth:`run` once a second (a Faust timer)."""

    def __init__(
        self,
        app: faust.App,
        bootstrap: str,
        health: Health,
        metrics: WorkerMetrics,
        *,
        recovery: Recovery,
        reporter: FindingsReporter,
        scorers: Mapping[str, QualityScorer],
        catalogue_table: Any,
        dedupe_budget: DedupeBudget,
        collector: CollectionTimer | None,
    ) -> None:
        self.app = app
        self.bootstrap = bootstrap
        self.health = health
        self.metrics = metrics
        self.recovery = recovery
        self.reporter = reporter
        self.scorers = scorers
        self.catalogue_table = catalogue_table
        self.dedupe_budget = dedupe_budget
        self.collector = collector

    async def run(self) -> None:
        """Update readiness, recover stalled tails, export gauges, close quiet windows."""
        app = self.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:  # consumer not started yet
            assigned = False
        recovered = cast(Any, app.tables).recovery.completed.is_set()
        self.health.set_condition("assigned", assigned and recovered)
        if assigned and recovered:
            await self.recovery.recover_stalled_tails()
        else:
            self.recovery.stalls.reset()  # records wait for recovery: not a stall
        self.health.set_condition("broker", await broker_reachable(self.bootstrap))
        self.metrics.catalogue_products.set(len(self.catalogue_table))
        self.metrics.dedupe_entries.set(self.dedupe_budget.entries)
        if self.collector is not None:
            self.metrics.observe_collector(self.collector)
        for scorer in self.scorers.values():
            scorer.tick()  # closes windows on quiet streams
        await self.reporter.report(*self.scorers)  # contracts' streams too
