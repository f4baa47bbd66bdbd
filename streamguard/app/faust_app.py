"""Faust glue: app, topics, tables and agents. Thin by design: decisions live in
:mod:`streamguard.pipeline`; this module moves bytes and state between it and Kafka.

Delivery: at-least-once. Each fetch's source records reach the pipeline as a batch
(:mod:`streamguard.app.intake`; with ``batch_intake`` off, an agent's
``stream.take_events`` batch): every record runs through the pipeline, every output is
sent, and every send's acknowledgement is awaited before the offset ledger counts the
records handled; commits never pass what the ledger counts, and Faust's commit flushes
the producer first. A crash anywhere replays the uncommitted tail; outputs carry
``_dq.source`` / ``source`` so duplicates are identifiable, and the dedupe state (a
changelogged table) makes the replay give the same decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
import orjson
from aiokafka import TopicPartition
from faust.types import TP

from streamguard.alerts import AlertManager
from streamguard.app.intake import BatchIntake
from streamguard.app.produce import Output, PartitionBatchSender
from streamguard.config import Settings
from streamguard.events.records import Outcome, SourcePosition
from streamguard.kafka.admin import true_end_offsets
from streamguard.kafka.ledger import OffsetLedger, StallWatch
from streamguard.kafka.side_reader import SourceRecord, read_range
from streamguard.observability.metrics import Health, WorkerMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import PipelineObserver, RecordPipeline, StreamName
from streamguard.recommender.process import (
    RecommenderProcess,
    RecommenderProcessError,
    RecommenderSpec,
)
from streamguard.runtime.heap import CollectionTimer
from streamguard.validate.dedupe import DedupeBudget, DedupeIndex
from streamguard.wiring import EngineGroup, build_scorers

__all__ = ["StreamGuardApp", "build_app", "catalogue_entry"]

log = logging.getLogger(__name__)

#: Product fields the catalogue keeps (enough for price fill and availability).
CATALOGUE_FIELDS = ("product_id", "title", "category", "brand", "price", "currency", "stock", "ts")


def catalogue_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The slim catalogue value for a clean product record."""
    return {name: record.get(name) for name in CATALOGUE_FIELDS}


class TableCatalogue:
    """The :class:`~streamguard.repair.rules.Catalogue` protocol over a Faust table."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._data: Any = None

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest product, or None when unknown or deleted."""
        if self._data is None:
            # The table's store, not the table: a read through the table calls every
            # Faust sensor (~2% of the worker's time: a lookup per behaviour event).
            self._data = self._table.data
        value = self._data.get(product_id)
        return value if isinstance(value, dict) else None


class ChangelogBuffer:
    """Table writes waiting to be sent with the outputs of the batch that made them.

    Faust's ``Table.send_changelog`` goes through its per-message ``Topic`` machinery
    (~17% of the worker's CPU when every record writes a dedupe entry); the worker sends
    these through the producer directly, like its outputs, and awaits their
    acknowledgements with the outputs', before the batch's offsets may be committed.
    Writes to the same key within a batch collapse to the last one.

    >>> buffer = ChangelogBuffer()
    >>> buffer.add("t-changelog", 0, b'"k"', b"1")
    >>> buffer.add("t-changelog", 0, b'"k"', None)
    >>> list(buffer.drain()), len(buffer)
    ([('t-changelog', 0, b'"k"', None)], 0)
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int, bytes], bytes | None] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue one write (``value=None``: a tombstone)."""
        self._pending.pop((topic, partition, key), None)  # keep the order of last writes
        self._pending[topic, partition, key] = value

    def drain(self) -> Iterator[tuple[str, int, bytes, bytes | None]]:
        """Every queued write once, in the order of their last writes; empties the buffer."""
        pending, self._pending = self._pending, {}
        for (topic, partition, key), value in pending.items():
            yield topic, partition, key, value


_MISSING = object()


class TablePartitionStore(MutableMapping[str, Any]):
    """A Faust table as a plain mapping whose writes go to one changelog partition.

    Faust picks a table write's changelog partition from the *current event*, which a
    ``take_events`` batch does not set per event (and setting it races the stream's
    buffer task). Writing through this view names the partition explicitly: the source
    partition, so a partition's state travels with it on rebalance. Writes are queued in
    ``changelog`` (JSON keys and values, as the table's schema reads them on recovery).
    """

    def __init__(self, table: Any, partition: int, changelog: ChangelogBuffer) -> None:
        self._data = table.data
        self._topic: str = table.changelog_topic_name
        self._partition = partition
        self._changelog = changelog
        # Reads go straight to the in-memory store's dict where there is one: the
        # Mapping mixin's get raises and catches KeyError on every miss, and nearly
        # every dedupe lookup is a miss (~5% of a busy worker's loop, py-spy 12-04).
        raw = getattr(self._data, "data", None)
        self._get: Callable[[str, Any], Any] = raw.get if isinstance(raw, dict) else self._data.get

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        return self._get(key, default)

    def __contains__(self, key: object) -> bool:
        return self._get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changelog.add(self._topic, self._partition, orjson.dumps(key), orjson.dumps(value))

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changelog.add(self._topic, self._partition, orjson.dumps(key), None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host}" for host in bootstrap.split(",") if host]


def _credentials(settings: Settings) -> Any:
    options = settings.kafka_client_options()
    protocol = settings.security_protocol
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"),
            mechanism=options["sasl_mechanism"],
        )
    return None


@dataclass(slots=True)
class _Route:
    """Where one source topic's records go: its stream's pipeline and clean topic."""

    stream: StreamName
    clean_name: str
    on_clean: Callable[[dict[str, Any], int], None] | None = None


def _log_failure(task: asyncio.Future[None]) -> None:
    """Done callback of a background task: its failure is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


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
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.health = health
        self.engines = engines
        self.alerts = alerts
        #: The process's garbage-collector timer, exported once a second.
        self.collector = collector
        s = settings
        self.app = faust.App(
            s.app_id,
            broker=_broker_urls(bootstrap),
            broker_credentials=_credentials(s),
            store="memory://",
            datadir=str(s.data_dir),
            topic_partitions=s.partitions,
            topic_replication_factor=s.replication_factor,
            key_serializer="raw",
            value_serializer="raw",
            # Faust binds a web server even when disabled: keep it on loopback.
            web_enabled=False,
            web_bind="127.0.0.1",
            web_host="127.0.0.1",
            web_port=s.faust_web_port or _free_port(),
            broker_session_timeout=s.session_timeout_s,
            broker_heartbeat_interval=s.heartbeat_interval_s,
            broker_rebalance_timeout=s.session_timeout_s,
            broker_commit_interval=s.commit_interval_s,
            consumer_auto_offset_reset="earliest",
            consumer_max_fetch_size=4 * s.max_record_bytes,
            broker_max_poll_records=s.max_poll_records,
            producer_acks=-1,
            producer_linger=s.producer_linger_ms / 1000.0,
            producer_max_request_size=4 * s.max_record_bytes,
            producer_max_batch_size=s.producer_batch_bytes,
            table_standby_replicas=0,
        )
        app = self.app
        self.quarantine = app.topic(s.topic_quarantine, partitions=s.partitions)
        self.quarantine_name = s.topic_quarantine
        # Table keys and values are JSON even though topic records are raw bytes.
        json_schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
        self.catalogue_table = app.GlobalTable(
            "catalogue", partitions=s.partitions, schema=json_schema
        )
        self.catalogue = TableCatalogue(self.catalogue_table)
        self._catalogue_stores: dict[int, TablePartitionStore] = {}
        self.findings = app.topic(s.topic_findings, partitions=s.partitions)
        # One scorer per stream, shared by its partitions: the score is the stream's.
        self.quality = build_scorers(s, catalogue=self.catalogue)
        self.quality_metrics = QualityMetrics(metrics.registry)
        self._pipelines: dict[tuple[str, int], RecordPipeline] = {}
        self.changelog = ChangelogBuffer()
        # One bound for the dedupe ids of every partition this worker holds, so memory
        # does not grow with the partitions a rebalance hands it.
        self.dedupe_budget = DedupeBudget(s.dedupe_worker_max_entries)
        self._routes: dict[str, _Route] = {}
        self._gap_fills: dict[tuple[str, int], set[asyncio.Future[None]]] = {}
        self._publishing: asyncio.Future[None] | None = None
        self._batch_sender: PartitionBatchSender | None = None
        self._dedupe_tables = {
            stream: app.Table(
                f"dedupe-{stream}",
                partitions=s.partitions,
                schema=json_schema,
            )
            for stream in ("behavior", "product")
        }
        self.recommender: RecommenderProcess | None = None
        if s.recommender_enabled:
            self._add_recommender()
        self.ledger = OffsetLedger()
        self.stalls = StallWatch(stall_s=10.0)
        self._add_agent("behavior", s.topic_behavior, s.topic_behavior_clean, None)
        self._add_agent("product", s.topic_product, s.topic_product_clean, self._on_product)
        self.intake: BatchIntake | None = None
        if s.batch_intake:
            self.intake = BatchIntake(
                app,
                tuple(self._routes),
                self._handle_topic_batch,
                max_batch=s.take_max_records,
                on_set_aside=self.metrics.intake_refetched.inc,
            )
            self.intake.install()
        app.on_partitions_revoked.connect(cast(Any, self._on_revoked))
        self._guard_commits()
        self._set_fetch_max_wait(s.fetch_max_wait_ms)
        app.timer(1.0)(self._health_tick)
        if s.verify_end_offsets:
            self._verify_changelog_ends()

    # --- wiring ------------------------------------------------------------------------
    def _add_agent(
        self,
        stream: StreamName,
        topic_name: str,
        clean_name: str,
        on_clean: Callable[[dict[str, Any], int], None] | None,
    ) -> None:
        source = self.app.topic(topic_name, partitions=self.settings.partitions)
        self.app.topic(clean_name, partitions=self.settings.partitions)  # declared for Faust
        route = _Route(stream, clean_name)
        route.on_clean = on_clean
        self._routes[topic_name] = route

        async def agent(events_stream: Any) -> None:
            take = events_stream.take_events(
                self.settings.take_max_records, within=self.settings.take_within_s
            )
            async for events in take:
                await self._process_batch(route, events)

        agent.__name__ = f"check_{stream}"
        self.app.agent(source, name=f"streamguard.check_{stream}")(agent)

    def _add_recommender(self) -> None:
        """The recommender, in a child process (see :mod:`streamguard.recommender.process`):
        it learns from the clean records of each batch (see :meth:`_learn`) and timers
        publish changed lists and snapshot the model."""
        s = self.settings
        self.recommender = RecommenderProcess(
            RecommenderSpec(
                snapshot_path=self.recommender_snapshot_path,
                min_interval_s=s.recommender_min_interval_s,
                k=s.recommender_k,
            ),
            registry=self.metrics.registry,
        )
        self.app.topic(s.topic_recommendations, partitions=s.partitions)  # declared for Faust
        self.app.timer(1.0)(self._publish_recommendations)
        self.app.timer(s.recommender_snapshot_interval_s)(self._snapshot_recommender)

    @property
    def recommender_snapshot_path(self) -> Path:
        """Where the recommender's model is snapshotted (and restored from at start)."""
        return self.settings.data_dir / "recommender" / "model.json"

    def _learn(
        self, stream: StreamName, records: list[SourceRecord], outcomes: list[Outcome]
    ) -> None:
        """Hand the recommender a batch whose outputs are acknowledged.

        In process rather than by consuming the clean topics back: that was a second
        Faust stream over every clean record (~16% of the worker's throughput, measured).
        The inputs are keyed by user_id (the topic contract), so each user's events reach
        one worker, as they would through the clean topic.
        """
        recommender = self.recommender
        assert recommender is not None
        if stream == "product":
            for record, outcome in zip(records, outcomes, strict=True):
                if outcome.record is not None:
                    recommender.update_product(outcome.record)
                else:  # its latest record was quarantined: do not recommend it
                    self._hide_quarantined_product(record.value)
            return
        threshold = self.settings.anomaly_threshold
        learnable = []
        for outcome in outcomes:
            clean = outcome.record
            if clean is None:
                continue
            # Quality gate: an anomalous event teaches the model nothing it should keep.
            score = (clean.get("_dq") or {}).get("anomaly_score")
            if score is None or score < threshold:
                learnable.append(clean)
        recommender.learn(learnable)

    def _sender(self) -> PartitionBatchSender:
        driver: Any = self.app.producer  # Faust's aiokafka driver: the client inside
        producer = driver._ensure_producer()  # noqa: SLF001
        sender = self._batch_sender
        if sender is None or sender.producer is not producer:  # kept: it caches key hashes
            sender = self._batch_sender = PartitionBatchSender(producer)
        return sender

    def _publish_soon(self) -> None:
        """Publish due lists in the background, one round at a time: the batch does not
        wait for the recommender process to learn what was just handed over (~30 µs an
        event there) before the due lists come back."""
        if self.recommender is None or not (self._publishing is None or self._publishing.done()):
            return
        self._publishing = asyncio.ensure_future(self._publish_recommendations())
        self._publishing.add_done_callback(_log_failure)

    async def _publish_recommendations(self) -> None:
        if self.recommender is None:
            return
        try:
            due = await asyncio.wrap_future(self.recommender.due_records())
        except RecommenderProcessError as exc:
            log.warning("no recommendations this round: %s", exc)
            return
        topic = self.settings.topic_recommendations
        if due:
            # Like the outputs, but the acks are not awaited: lists are best effort (the
            # policy counts a list published once it is handed to the producer).
            await self._sender().send([(topic, None, key, value) for key, value in due])

    async def _snapshot_recommender(self) -> None:
        if self.recommender is None:
            return
        try:  # the child serializes and writes: the loop only waits
            await asyncio.wrap_future(self.recommender.snapshot(self.recommender_snapshot_path))
        except RecommenderProcessError as exc:
            log.error("recommender snapshot not written: %s", exc)

    def save_recommender(self, timeout_s: float = 120.0) -> None:
        """Write the recommender's snapshot now and end its process (at shutdown, with
        the loop stopped)."""
        if self.recommender is None:
            return
        try:
            self.recommender.snapshot(self.recommender_snapshot_path).result(timeout_s)
        except (RecommenderProcessError, TimeoutError) as exc:
            log.error("recommender snapshot not written at shutdown: %s", exc)
        finally:
            self.recommender.close()

    def _pipeline_for(self, stream: StreamName, topic: str, partition: int) -> RecordPipeline:
        pipeline = self._pipelines.get((topic, partition))
        if pipeline is None:
            s = self.settings
            dedupe = DedupeIndex(
                s.dedupe_window_s,
                s.dedupe_max_entries,
                store=TablePartitionStore(self._dedupe_tables[stream], partition, self.changelog),
                scope=(topic, partition),
                budget=self.dedupe_budget,
            )
            # The drift engine first: it fills _dq.anomaly_score, which quality reads.
            observers: list[PipelineObserver] = []
            if self.engines is not None:
                observers.append(self.engines[stream])
            observers.append(self.quality[stream])
            pipeline = RecordPipeline(
                stream,
                max_record_bytes=s.max_record_bytes,
                dedupe=dedupe,
                catalogue=self.catalogue if stream == "behavior" else None,
                observers=observers,
            )
            self._pipelines[topic, partition] = pipeline
        return pipeline

    async def _process_batch(self, route: _Route, events: list[Any]) -> None:
        """A batch from the agent's stream (``batch_intake`` off)."""
        records = [
            SourceRecord(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
            for m in (event.message for event in events)
        ]
        await self._process_records(route, records)

    async def _handle_topic_batch(self, topic: str, records: list[SourceRecord]) -> Awaitable[None]:
        """A batch from :class:`BatchIntake` (one source topic's fetched records):
        process and send it; what it returns finishes it (see :meth:`_start_records`)."""
        return await self._start_records(self._routes[topic], records)

    async def _process_records(self, route: _Route, records: list[SourceRecord]) -> None:
        await (await self._start_records(route, records))

    async def _start_records(
        self, route: _Route, records: list[SourceRecord]
    ) -> Coroutine[Any, Any, None]:
        """Process and send a batch; the coroutine returned waits for its outputs' acks,
        then accounts for it (its offsets settle only then). The caller may start the
        next batch before it awaits that, so processing overlaps the round trip."""
        return self._settle_batch(route, records, await self._send_batch(route, records))

    async def _settle_batch(
        self, route: _Route, records: list[SourceRecord], finish: Awaitable[None]
    ) -> None:
        await finish
        last_offsets: dict[tuple[str, int], int] = {}
        for record in records:  # a TP per partition, not per record (a hot path)
            last_offsets[record.topic, record.partition] = record.offset
        self._observe_lag({TP(*key): offset for key, offset in last_offsets.items()})
        await self._settle_offsets(route, records)

    async def _handle(self, route: _Route, records: list[SourceRecord]) -> None:
        """Run records through the pipeline and send every output and table write; return
        once all are acknowledged (only then may their offsets be committed)."""
        await (await self._send_batch(route, records))

    async def _send_batch(
        self, route: _Route, records: list[SourceRecord]
    ) -> Coroutine[Any, Any, None]:
        """Run records through the pipeline and send every output and table write; return
        once they are sent, with a coroutine that waits for their acknowledgements and
        then does the batch's accounting (recommender, metrics, findings). Await it
        before the batch's offsets may be committed."""
        started = time.perf_counter()
        outcomes = []
        # No await until the batch's table writes are drained: another batch (the other
        # agent, a gap fill) must not interleave its writes with these.
        for record in records:
            pipeline = self._pipeline_for(route.stream, record.topic, record.partition)
            outcome = pipeline.process(
                record.value, SourcePosition(record.topic, record.partition, record.offset)
            )
            if route.on_clean is not None and outcome.record is not None:
                route.on_clean(outcome.record, record.partition)
            outcomes.append(outcome)
        clean_name, quarantine_name = route.clean_name, self.quarantine_name
        outputs: list[Output] = [
            (clean_name if o.is_clean else quarantine_name, None, o.key, o.value) for o in outcomes
        ]
        outputs += self.changelog.drain()
        # The producer directly (Faust's Topic.send costs ~1 ms a record, measured), one
        # record batch per partition (a future per record was ~20% of the loop).
        acks = await self._sender().send(outputs)
        return self._after_acks(route, records, outcomes, acks, time.perf_counter() - started)

    async def _after_acks(
        self,
        route: _Route,
        records: list[SourceRecord],
        outcomes: list[Outcome],
        acks: list[asyncio.Future[Any]],
        busy_s: float,
    ) -> None:
        waited = time.perf_counter()
        await asyncio.gather(*acks)
        if self.recommender is not None:
            self._learn(route.stream, records, outcomes)
        now = time.time()
        self.metrics.observe_batch(
            route.stream,
            outcomes,
            # The batch's own time: processing and waiting for its acks, not the next
            # batch's processing that overlapped the wait.
            seconds=busy_s + time.perf_counter() - waited,
            latencies=[now - record.timestamp_s for record in records],
        )
        await self._report(route.stream)
        self._publish_soon()

    async def _report(self, *streams: StreamName) -> None:
        """Export the monitors' scores and publish their findings (topic and alerts)."""
        findings: list[dict[str, Any]] = []
        for stream in streams:
            scorer = self.quality[stream]
            self.quality_metrics.observe(scorer.snapshot())
            if self.engines is not None:
                findings += [f.as_dict() for f in self.engines[stream].drain_findings()]
            findings += scorer.drain_findings()
        if self.engines is not None:
            self.engines.update_metrics()
        for finding in findings:
            # Findings are observations, not records of the input: no ack is awaited.
            await self.findings.send(
                key=str(finding.get("stream", "")).encode(), value=orjson.dumps(finding)
            )
        if self.alerts is not None and findings:
            self.alerts.submit_many(findings)

    async def _settle_offsets(self, route: _Route, records: list[SourceRecord]) -> None:
        """Tell the ledger what was handled; fill any range the consumer skipped."""
        consumer: Any = self.app.consumer
        assignment = consumer.assignment()
        for record in records:
            topic, partition = record.topic, record.partition
            if not self.ledger.tracking(topic, partition):
                tp = TP(topic, partition)
                if tp not in assignment:
                    # A record fetched before a revocation, delivered after it: its
                    # output is sent (a harmless duplicate); the partition's owner
                    # accounts for it. Tracking it here would start the ledger without
                    # a committed offset and re-read the partition from its start.
                    continue
                await self._start_ledger(tp)
            gap = self.ledger.observe(topic, partition, record.offset)
            if gap is not None:
                self._start_gap_fill(route, topic, partition, *gap)

    async def _start_ledger(self, tp: TP) -> None:
        """Track an assigned partition in the ledger from its committed offset."""
        self.ledger.start(tp.topic, tp.partition, await self._committed_offset(tp))

    async def _ask_group_consumer(self, method: str, tp: TP) -> Any:
        """``await client.<method>(tp)`` on the aiokafka consumer inside Faust's consumer
        thread (its own event loop); Faust exposes neither committed() nor position()."""
        consumer: Any = self.app.consumer
        thread = consumer._thread  # noqa: SLF001
        client = thread._ensure_consumer()  # noqa: SLF001
        return await thread.call_thread(
            getattr(client, method), TopicPartition(tp.topic, tp.partition)
        )

    async def _committed_offset(self, tp: TP) -> int | None:
        """The group's committed offset for ``tp``, or the log start if none.

        Faust's cache of committed offsets is filled only after its post-rebalance seek
        (and holds ``None`` for offset 0), so records can arrive before it knows: ask
        the group coordinator instead, through Faust's own consumer thread.
        """
        consumer: Any = self.app.consumer
        committed: int | None = consumer._committed_offset.get(tp)  # noqa: SLF001
        if committed is None:
            committed = await self._ask_group_consumer("committed", tp)
        if committed is None:  # nothing committed yet: the log starts the range
            committed = (await consumer.earliest_offsets(tp)).get(tp)
        return committed

    async def _recover_stalled_tails(self) -> None:
        """Read on the side what Faust fetched but never delivered at a partition's end.

        Faust drops fetched records around flow pauses and generation changes; the
        ledger sees such a gap when a later record arrives, which on a quiet partition
        may be never. So: a partition whose frontier has not moved for a while, with the
        consumer reading past it, gets the range between read on the side.
        """
        consumer: Any = self.app.consumer
        now = time.monotonic()
        for tp in consumer.assignment():
            route = self._routes.get(tp.topic)
            key = (tp.topic, tp.partition)
            if route is None or not self.stalls.stalled(key, self.ledger.frontier(*key), now):
                continue
            if self.intake is not None and self.intake.holds(*key):
                continue  # fetched and on its way (a large fetch takes a while): not lost
            if self._gap_fills.get(key):
                continue  # a side read is still running
            position = await self._position(tp)
            if position is None:
                continue
            if not self.ledger.tracking(*key):  # nothing arrived since the assignment
                await self._start_ledger(tp)
            gap = self.ledger.report_tail(tp.topic, tp.partition, position)
            if gap is not None:
                self._start_gap_fill(route, tp.topic, tp.partition, *gap)

    async def _position(self, tp: TP) -> int | None:
        """The group consumer's read position on ``tp`` (None if it has none now)."""
        try:
            position = await asyncio.wait_for(self._ask_group_consumer("position", tp), 2.0)
        except Exception as exc:  # revoked meanwhile, or no position yet: next time
            log.debug("no read position for %s: %r", tp, exc)
            return None
        return int(position)

    def _start_gap_fill(
        self, route: _Route, topic: str, partition: int, start: int, end: int
    ) -> None:
        log.warning(
            "records %s[%d] offsets %d..%d never reached the pipeline; reading them on the side",
            topic,
            partition,
            start,
            end - 1,
        )
        task = asyncio.ensure_future(self._fill_gap(route, topic, partition, start, end))
        tasks = self._gap_fills.setdefault((topic, partition), set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _fill_gap(
        self, route: _Route, topic: str, partition: int, start: int, end: int
    ) -> None:
        """Read ``start..end-1`` with a plain consumer and process it; retry until done.

        Until it is done the ledger holds commits below ``start``, so a crash or a
        revocation meanwhile leaves the range to the next owner: nothing is lost.
        """
        backoff_s = 1.0
        cursor = start  # resume after what an earlier attempt already handled
        while True:
            try:
                async for batch in read_range(
                    self.bootstrap,
                    topic,
                    partition,
                    cursor,
                    end,
                    **self.settings.kafka_client_options(),
                ):
                    await self._handle(route, batch)
                    self.metrics.skips_recovered.labels(topic).inc(len(batch))
                    cursor = batch[-1].offset + 1
                self.ledger.fill(topic, partition, start, end)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker trouble: keep the gap, retry with back-off
                log.warning(
                    "re-reading %s[%d] from offset %d failed (%r); retrying in %.0f s",
                    topic,
                    partition,
                    cursor,
                    exc,
                    backoff_s,
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 30.0)

    def _set_fetch_max_wait(self, wait_ms: int) -> None:
        """Faust creates its group consumer with ``fetch_max_wait_ms=1500`` and no knob.

        Kafka answers a fetch as soon as data arrives, but a broker that holds it to the
        deadline (the embedded one does) delays every record by up to that much. Wrap
        this app's consumer factory (before it starts) to set our value.
        """
        consumer: Any = self.app.consumer
        thread: Any = consumer._thread  # noqa: SLF001 - no public hook
        create = thread._create_worker_consumer  # noqa: SLF001

        def create_worker_consumer(transport: Any) -> Any:
            client = create(transport)
            client._fetch_max_wait_ms = wait_ms  # noqa: SLF001 - read by start()
            return client

        thread._create_worker_consumer = create_worker_consumer  # noqa: SLF001

    def _guard_commits(self) -> None:
        """Never commit past a record the pipeline has not handled (see delivery.py).

        With the batch intake Faust acks nothing of the source topics, so their commits
        are the ledger's frontier (once it moved past its start, which came from a commit
        and may be stale); Faust's acks still govern every other topic.
        """
        consumer: Any = self.app.consumer
        new_offset = consumer._new_offset  # noqa: SLF001 - Faust has no public hook
        sources, ledger = self._routes, self.ledger
        by_ledger = self.intake is not None

        def guarded_new_offset(tp: TP) -> int | None:
            limit = ledger.committable(tp.topic, tp.partition)
            if by_ledger and tp.topic in sources:
                return limit if ledger.advanced(tp.topic, tp.partition) else None
            offset: int | None = new_offset(tp)
            if offset is None or limit is None:
                return offset
            return min(offset, limit)

        consumer._new_offset = guarded_new_offset  # noqa: SLF001

    def _observe_lag(self, last_offsets: Mapping[TP, int]) -> None:
        consumer = self.app.consumer
        for tp, offset in last_offsets.items():
            try:
                highwater = consumer.highwater(tp)
            except Exception as exc:  # lag is best effort, never fatal
                log.debug("no high watermark for %s: %r", tp, exc)
                continue
            if highwater is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(highwater - offset - 1, 0)
                )

    def _hide_quarantined_product(self, raw: bytes | None) -> None:
        """A product whose latest record was quarantined is not recommended."""
        try:
            product_id = orjson.loads(raw or b"").get("product_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(product_id, str) and self.recommender is not None:
            self.recommender.remove_product(product_id)

    def _on_product(self, record: dict[str, Any], partition: int) -> None:
        catalogue = self._catalogue_stores.get(partition)
        if catalogue is None:
            catalogue = TablePartitionStore(self.catalogue_table, partition, self.changelog)
            self._catalogue_stores[partition] = catalogue
        product_id = record["product_id"]
        if record.get("op") == "delete":
            catalogue.pop(product_id, None)
        else:
            catalogue[product_id] = catalogue_entry(record)

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        if self.intake is not None and self.intake.busy:
            # Faust waited for what its streams hold; the intake's batch is not in them.
            # Bounded: what it does not finish is not committed, so it is read again.
            wait_s = min(10.0, self.settings.session_timeout_s / 3)
            if not await self.intake.wait_idle(wait_s):
                log.warning("a batch was still in flight %.0f s into a rebalance", wait_s)
        for tp in revoked:
            pipeline = self._pipelines.pop((tp.topic, tp.partition), None)
            if pipeline is not None and pipeline.dedupe is not None:
                self.dedupe_budget.leave(pipeline.dedupe)
            self.ledger.forget(tp.topic, tp.partition)
            self.stalls.forget((tp.topic, tp.partition))
            for task in self._gap_fills.pop((tp.topic, tp.partition), set()):
                task.cancel()  # the next owner re-reads from the (clamped) commit
            with contextlib.suppress(KeyError):  # no lag recorded yet for this partition
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self.health.set_condition("assigned", False)

    async def _health_tick(self) -> None:
        app = self.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:  # consumer not started yet
            assigned = False
        recovered = cast(Any, app.tables).recovery.completed.is_set()
        self.health.set_condition("assigned", assigned and recovered)
        if assigned and recovered:
            await self._recover_stalled_tails()
        else:
            self.stalls.reset()  # records wait for recovery: not a stall
        self.health.set_condition("broker", await self._broker_reachable())
        self.metrics.catalogue_products.set(len(self.catalogue_table))
        self.metrics.dedupe_entries.set(self.dedupe_budget.entries)
        if self.collector is not None:
            self.metrics.observe_collector(self.collector)
        for scorer in self.quality.values():
            scorer.tick()  # closes windows on quiet streams
        await self._report("behavior", "product")

    async def _broker_reachable(self) -> bool:
        """Whether any bootstrap broker accepts a connection within a second.

        Faust's clients keep their assignment and retry quietly while the broker is
        down, so readiness needs its own probe. A TCP connect is what works the same
        with TLS and SASL; the clients' own errors are in the log.
        """
        for address in self.bootstrap.split(","):
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

    def _verify_changelog_ends(self) -> None:
        """Make table recovery read to the true end of each changelog partition.

        Some Kafka-protocol brokers (the embedded Tansu among them) report a partition's
        end offset as the first offset of its last batch + 1; Faust would then declare
        recovery done early and silently lose the last table updates. We ask the broker
        and then read forward from there (see streamguard.devtools.broker.true_end_offsets).
        """
        consumer = self.app.consumer
        reported_highwaters = consumer.highwaters
        bootstrap, options = self.bootstrap, self.settings.kafka_client_options()

        async def highwaters(*partitions: TP) -> Mapping[TP, int]:
            reported = await reported_highwaters(*partitions)
            true = await true_end_offsets(
                bootstrap, [(tp.topic, tp.partition) for tp in partitions], **options
            )
            return {
                tp: max(reported.get(tp, 0), true.get((tp.topic, tp.partition), 0))
                for tp in partitions
            }

        consumer.highwaters = highwaters  # type: ignore[method-assign]


def build_app(
    settings: Settings,
    bootstrap: str,
    metrics: WorkerMetrics,
    health: Health,
    *,
    engines: EngineGroup | None = None,
    alerts: AlertManager | None = None,
    collector: CollectionTimer | None = None,
) -> StreamGuardApp:
    """Create the Faust app for ``bootstrap`` (``host:port[,host:port]``), with the drift
    engines, alert manager and garbage-collector timer the worker started (any may be
    left out)."""
    health.require("assigned", "broker")
    return StreamGuardApp(
        settings, bootstrap, metrics, health, engines=engines, alerts=alerts, collector=collector
    )
