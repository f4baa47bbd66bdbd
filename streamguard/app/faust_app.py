"""Faust glue: app, topics, tables and agents. Thin by design: decisions live in
:mod:`streamguard.pipeline`; this module moves bytes and state between it and Kafka.

Delivery: at-least-once. An agent takes a batch of events (``stream.take_events``),
runs each through the pipeline, sends every output, and awaits every send's
acknowledgement before it asks for the next batch; only then does Faust ack the events,
and Faust's commit flushes the producer before it commits offsets. A crash anywhere
replays the uncommitted tail; outputs carry ``_dq.source`` / ``source`` so duplicates
are identifiable, and the dedupe state (a changelogged table) makes the replay give
the same decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import faust
from faust.types import TP

from streamguard.broker import true_end_offsets
from streamguard.config import Settings
from streamguard.dedupe import DedupeIndex
from streamguard.metrics import Health, WorkerMetrics
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.records import SourcePosition

__all__ = ["StreamGuardApp", "build_app", "catalogue_entry"]

log = logging.getLogger(__name__)

#: Product fields the catalogue keeps (enough for price fill and availability).
CATALOGUE_FIELDS = ("product_id", "title", "category", "brand", "price", "currency", "stock", "ts")


def catalogue_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The slim catalogue value for a clean product record."""
    return {name: record.get(name) for name in CATALOGUE_FIELDS}


class TableCatalogue:
    """The :class:`~streamguard.repair.Catalogue` protocol over a Faust table."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest product, or None when unknown or deleted."""
        value = self._table.get(product_id)
        return value if isinstance(value, dict) else None


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


class StreamGuardApp:
    """The Faust app with StreamGuard's topics, tables and agents attached."""

    def __init__(
        self, settings: Settings, bootstrap: str, metrics: WorkerMetrics, health: Health
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.health = health
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
            producer_acks=-1,
            producer_max_request_size=4 * s.max_record_bytes,
            table_standby_replicas=0,
        )
        app = self.app
        self.quarantine = app.topic(s.topic_quarantine, partitions=s.partitions)
        self.catalogue_table = app.GlobalTable(
            "catalogue", partitions=s.partitions, key_serializer="json", value_serializer="json"
        )
        self.catalogue = TableCatalogue(self.catalogue_table)
        self._pipelines: dict[tuple[str, int], RecordPipeline] = {}
        self._dedupe_tables = {
            stream: app.Table(
                f"dedupe-{stream}",
                partitions=s.partitions,
                key_serializer="json",
                value_serializer="json",
            )
            for stream in ("behavior", "product")
        }
        self._add_agent("behavior", s.topic_behavior, s.topic_behavior_clean, None)
        self._add_agent("product", s.topic_product, s.topic_product_clean, self._on_product)
        app.on_partitions_revoked.connect(cast(Any, self._on_revoked))
        app.timer(1.0)(self._health_tick)
        if s.verify_end_offsets:
            self._verify_changelog_ends()

    # --- wiring ------------------------------------------------------------------------
    def _add_agent(
        self,
        stream: StreamName,
        topic_name: str,
        clean_name: str,
        on_clean: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        source = self.app.topic(topic_name, partitions=self.settings.partitions)
        clean = self.app.topic(clean_name, partitions=self.settings.partitions)

        async def agent(events_stream: Any) -> None:
            take = events_stream.take_events(
                self.settings.take_max_records, within=self.settings.take_within_s
            )
            async for events in take:
                await self._process_batch(stream, events_stream, events, clean, on_clean)

        agent.__name__ = f"check_{stream}"
        self.app.agent(source, name=f"streamguard.check_{stream}")(agent)

    def _pipeline_for(self, stream: StreamName, topic: str, partition: int) -> RecordPipeline:
        pipeline = self._pipelines.get((topic, partition))
        if pipeline is None:
            s = self.settings
            dedupe = DedupeIndex(
                s.dedupe_window_s,
                s.dedupe_max_entries,
                store=self._dedupe_tables[stream],
                scope=(topic, partition),
            )
            pipeline = RecordPipeline(
                stream,
                max_record_bytes=s.max_record_bytes,
                dedupe=dedupe,
                catalogue=self.catalogue if stream == "behavior" else None,
            )
            self._pipelines[topic, partition] = pipeline
        return pipeline

    async def _process_batch(
        self,
        stream: StreamName,
        events_stream: Any,
        events: list[Any],
        clean: Any,
        on_clean: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        started = time.perf_counter()
        outcomes = []
        acks = []
        last_offsets: dict[TP, int] = {}
        for event in events:
            message = event.message
            # Table writes go to the changelog partition of the *current event*: with
            # take_events Faust does not set it per event, so set it here.
            events_stream._set_current_event(event)
            pipeline = self._pipeline_for(stream, message.topic, message.partition)
            outcome = pipeline.process(
                message.value, SourcePosition(message.topic, message.partition, message.offset)
            )
            target = clean if outcome.is_clean else self.quarantine
            acks.append(await target.send(key=outcome.key, value=outcome.value))
            if on_clean is not None and outcome.record is not None:
                on_clean(outcome.record)
            outcomes.append(outcome)
            last_offsets[message.tp] = message.offset
        events_stream._set_current_event(None)
        # Outputs acknowledged before these events are acked (and so committable).
        await asyncio.gather(*acks)
        now = time.time()
        self.metrics.observe_batch(
            stream,
            outcomes,
            seconds=time.perf_counter() - started,
            latencies=[now - event.message.timestamp for event in events],
        )
        self._observe_lag(last_offsets)

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

    def _on_product(self, record: dict[str, Any]) -> None:
        product_id = record["product_id"]
        if record.get("op") == "delete":
            self.catalogue_table.pop(product_id, None)
        else:
            self.catalogue_table[product_id] = catalogue_entry(record)

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        for tp in revoked:
            self._pipelines.pop((tp.topic, tp.partition), None)
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
        self.metrics.catalogue_products.set(len(self.catalogue_table))

    def _verify_changelog_ends(self) -> None:
        """Make table recovery read to the true end of each changelog partition.

        Some Kafka-protocol brokers (the embedded Tansu among them) report a partition's
        end offset as the first offset of its last batch + 1; Faust would then declare
        recovery done early and silently lose the last table updates. We ask the broker
        and then read forward from there (see streamguard.broker.true_end_offsets).
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
    settings: Settings, bootstrap: str, metrics: WorkerMetrics, health: Health
) -> StreamGuardApp:
    """Create the Faust app for ``bootstrap`` (``host:port[,host:port]``)."""
    health.require("assigned")
    return StreamGuardApp(settings, bootstrap, metrics, health)
