"""The worker's composition root: the Faust app with StreamGuard's topics, tables,
agents and intake, wired to the parts that do the work.

- :mod:`~streamguard.app.batch`: the batch flow, the one path of every source record
  (pipeline, send, acks, accounting, ledger); its module docs state the delivery promise;
- :mod:`~streamguard.app.recovery`: ledger starts, stalled tails, gap fills;
- :mod:`~streamguard.app.pipelines` and :mod:`~streamguard.app.tables`: a pipeline per
  partition, its state in changelogged tables;
- :mod:`~streamguard.app.reporting` and :mod:`~streamguard.app.incidents`: findings and
  signal states to the findings topic, and the one owner per stream that correlates
  them into incidents;
- :mod:`~streamguard.app.recommender_link`, :mod:`~streamguard.app.health`: the
  recommender, the once-a-second round;
- :mod:`~streamguard.app.inventory`: the live inventory (profiled after the acks,
  merged across workers, published to the inventory topic and /api/inventory);
- :mod:`~streamguard.app.faust_config` and :mod:`~streamguard.app.patches`: Faust's
  settings and the patches to its internals.

Decisions about records live in :mod:`streamguard.pipeline`; nothing here decides.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, cast

import faust

from streamguard.alerts import AlertManager
from streamguard.app.batch import BatchFlow, Route
from streamguard.app.detector_state import DetectorStateLink
from streamguard.app.faust_config import create_faust_app
from streamguard.app.health import HealthTick
from streamguard.app.incidents import IncidentLink
from streamguard.app.intake import BatchIntake
from streamguard.app.inventory import CountedFindings, InventoryLink, input_streams, model_of
from streamguard.app.patches import guard_commits, set_fetch_max_wait, verify_changelog_ends
from streamguard.app.pipelines import PartitionPipelines, contract_streams
from streamguard.app.produce import AppSender
from streamguard.app.recommender_link import RecommenderLink, snapshot_path
from streamguard.app.recovery import Recovery
from streamguard.app.reporting import FindingsReporter
from streamguard.app.tables import CatalogueWriter, ChangelogBuffer, TableCatalogue
from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.kafka.ledger import OffsetLedger, StallWatch
from streamguard.kafka.side_reader import SourceRecord
from streamguard.observability.health import Health
from streamguard.observability.inventory import InventoryMetrics
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.runtime.heap import CollectionTimer
from streamguard.validate.dedupe import DedupeBudget
from streamguard.wiring import EngineGroup, build_scorers

__all__ = ["StreamGuardApp", "build_app"]

log = logging.getLogger(__name__)


class StreamGuardApp:
    """The Faust app with StreamGuard's topics, tables and agents attached."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        metrics: WorkerMetrics,
        health: Health,
        *,
        engines: EngineGroup | None = None,
        alerts: AlertManager | None = None,
        collector: CollectionTimer | None = None,
        contracts: ContractSet | None = None,
    ) -> None:
        self.settings = s = settings
        #: Data contracts: they refine the shipped streams or add new streams (topics).
        self.contracts = contracts = contracts if contracts is not None else ContractSet({})
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.health = health
        self.engines = engines
        if engines is not None:  # a contract's new stream: its own engine, same embedder
            engines.add_contracts(contracts)
        self.alerts = alerts
        #: The process's garbage-collector timer, exported once a second.
        self.collector = collector
        self.app = app = create_faust_app(s, bootstrap)
        self.quarantine = app.topic(s.topic_quarantine, partitions=s.partitions)
        # Table keys and values are JSON even though topic records are raw bytes.
        json_schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
        self.catalogue_table = app.GlobalTable(
            "catalogue", partitions=s.partitions, schema=json_schema
        )
        self.catalogue = TableCatalogue(self.catalogue_table)
        self.findings = app.topic(s.topic_findings, partitions=s.partitions)
        # One scorer per stream, shared by its partitions: the score is the stream's.
        self.quality = build_scorers(s, catalogue=self.catalogue, contracts=contracts)
        # Detector state from the last run, before the first record (app/detector_state).
        self.detector_state: DetectorStateLink | None = None
        if s.detector_snapshots:
            self.detector_state = DetectorStateLink(
                s, metrics.registry, engines=engines, scorers=self.quality
            )
            self.detector_state.restore()
            app.timer(s.detector_snapshot_interval_s)(self.detector_state.save)
            app.on_before_shutdown.connect(self.detector_state.save_at_shutdown)
        self.changelog = ChangelogBuffer()
        # One bound for the dedupe ids of every partition this worker holds, so memory
        # does not grow with the partitions a rebalance hands it.
        self.dedupe_budget = DedupeBudget(s.dedupe_worker_max_entries)
        dedupe_tables = {
            stream: app.Table(f"dedupe-{stream}", partitions=s.partitions, schema=json_schema)
            for stream in ("behavior", "product", *(c.stream for c in contracts.new_streams()))
        }
        self.pipelines = PartitionPipelines(
            s,
            dedupe_tables=dedupe_tables,
            budget=self.dedupe_budget,
            changelog=self.changelog,
            catalogue=self.catalogue,
            scorers=self.quality,
            engines=engines,
            contracts=contracts,
        )
        self.sender = AppSender(app)
        # The live inventory (app/inventory): observed after each batch's acks, published.
        self.inventory: InventoryLink | None = None
        reported_findings: Any = self.findings
        if s.inventory_enabled:
            self.inventory = InventoryLink(
                app,
                s,
                bootstrap,
                self.sender,
                InventoryMetrics(metrics.registry),
                contract_streams(input_streams(s), contracts),
                embedder=model_of(engines),
            )
            self.inventory.install()
            reported_findings = CountedFindings(self.findings, self.inventory)
        self.reporter = FindingsReporter(
            reported_findings,
            self.quality,
            QualityMetrics(metrics.registry),
            engines=engines,
            metrics=metrics,
            signal_report_s=s.alert_signal_report_s,
        )
        # One worker per stream correlates every worker's findings into incidents.
        self.incident_link: IncidentLink | None = None
        if alerts is not None:
            self.incident_link = IncidentLink(app, s, bootstrap, alerts, self.findings)
            self.incident_link.install()
        self.recommender: RecommenderLink | None = None
        if s.recommender_enabled:
            self.recommender = RecommenderLink(s, metrics.registry, self.sender)
            app.topic(s.topic_recommendations, partitions=s.partitions)  # declared for Faust
            app.timer(1.0)(self.recommender.publish)
            app.timer(s.recommender_snapshot_interval_s)(self.recommender.snapshot)

        self.ledger = OffsetLedger()
        self.stalls = StallWatch(stall_s=10.0)
        catalogue_writer = CatalogueWriter(self.catalogue_table, self.changelog)
        routes = {
            s.topic_behavior: Route("behavior", s.topic_behavior_clean),
            s.topic_product: Route("product", s.topic_product_clean, catalogue_writer.apply),
        }
        for contract in contracts.new_streams():  # a contract's own topic, same flow
            routes[str(contract.topic)] = Route(contract.stream, str(contract.clean_topic))
        self.intake: BatchIntake | None = None
        # Recovery and the flow call each other (gap fills run through the flow; the
        # flow's ledger step starts gap fills): the lambdas close the loop at run time.
        self.recovery = Recovery(
            app,
            s,
            bootstrap,
            metrics,
            self.ledger,
            self.stalls,
            sources=routes,
            handle=lambda topic, records: self.flow.start(topic, records, recovered=True),
            held=lambda topic, partition: (
                self.intake is not None and self.intake.holds(topic, partition)
            ),
        )
        self.flow = BatchFlow(
            app,
            routes,
            quarantine_name=s.topic_quarantine,
            pipelines=self.pipelines,
            changelog=self.changelog,
            sender=self.sender,
            ledger=self.ledger,
            recovery=self.recovery,
            reporter=self.reporter,
            metrics=metrics,
            recommender=self.recommender,
            inventory=self.inventory,
        )
        for topic, route in routes.items():
            self._add_agent(topic, route)
        if s.batch_intake:
            self.intake = BatchIntake(
                app,
                tuple(routes),
                self.flow.start,
                max_batch=s.take_max_records,
                on_set_aside=metrics.intake_refetched.inc,
            )
            self.intake.install()

        app.on_partitions_revoked.connect(cast(Any, self._on_revoked))
        guard_commits(app, self.ledger, frozenset(routes), by_ledger=self.intake is not None)
        set_fetch_max_wait(app, s.fetch_max_wait_ms)
        self.health_tick = HealthTick(
            app,
            bootstrap,
            health,
            metrics,
            recovery=self.recovery,
            reporter=self.reporter,
            scorers=self.quality,
            catalogue_table=self.catalogue_table,
            dedupe_budget=self.dedupe_budget,
            collector=collector,
        )
        app.timer(1.0)(self.health_tick.run)
        if s.verify_end_offsets:
            verify_changelog_ends(app, bootstrap, s.kafka_client_options())

    def _add_agent(self, topic_name: str, route: Route) -> None:
        """The Faust agent of one source topic. With ``batch_intake`` on (the default)
        its stream receives nothing: the intake takes the topic's records first."""
        s = self.settings
        source = self.app.topic(topic_name, partitions=s.partitions)
        self.app.topic(route.clean_name, partitions=s.partitions)  # declared for Faust
        start = self.flow.start

        async def agent(events_stream: Any) -> None:
            take = events_stream.take_events(s.take_max_records, within=s.take_within_s)
            async for events in take:
                records = [
                    SourceRecord(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
                    for m in (event.message for event in events)
                ]
                await (await start(topic_name, records))

        agent.__name__ = f"check_{route.stream}"
        self.app.agent(source, name=f"streamguard.check_{route.stream}")(agent)

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        if self.intake is not None and self.intake.busy:
            # Faust waited for what its streams hold; the intake's batch is not in them.
            # Bounded: what it does not finish is not committed, so it is read again.
            wait_s = min(10.0, self.settings.session_timeout_s / 3)
            if not await self.intake.wait_idle(wait_s):
                log.warning("a batch was still in flight %.0f s into a rebalance", wait_s)
        for tp in revoked:
            self.pipelines.forget(tp.topic, tp.partition)
            self.recovery.forget(tp)
            with contextlib.suppress(KeyError):  # no lag recorded yet for this partition
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self.health.set_condition("assigned", False)

    @property
    def recommender_snapshot_path(self) -> Path:
        """Where the recommender's model is snapshotted (and restored from at start)."""
        return snapshot_path(self.settings)

    def save_recommender(self, timeout_s: float = 120.0) -> None:
        """Write the recommender's snapshot now and end its process (at shutdown, with
        the loop stopped)."""
        if self.recommender is not None:
            self.recommender.save(timeout_s)


def build_app(
    settings: Settings,
    bootstrap: str,
    metrics: WorkerMetrics,
    health: Health,
    *,
    engines: EngineGroup | None = None,
    alerts: AlertManager | None = None,
    collector: CollectionTimer | None = None,
    contracts: ContractSet | None = None,
) -> StreamGuardApp:
    """Create the Faust app for ``bootstrap`` (``host:port[,host:port]``), with the drift
    engines, alert manager and garbage-collector timer the worker started (any may be
    left out), under ``contracts`` (if any)."""
    health.require("assigned", "broker")
    return StreamGuardApp(
        settings,
        bootstrap,
        metrics,
        health,
        engines=engines,
        alerts=alerts,
        collector=collector,
        contracts=contracts,
    )
