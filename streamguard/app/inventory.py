"""The live inventory in the worker: observed after delivery, merged, published, served.

- **Observed off the critical path**: :meth:`InventoryLink.observe` is called by the
  batch flow once a batch's outputs are acknowledged (step 4, accounting), so it never
  delays a record's delivery. It counts every record and the batch's outputs (lineage:
  clean, quarantine, and the recommender's input when it runs in the worker) and hands
  the raw values to :class:`~streamguard.inventory.live.LiveInventory`, which profiles
  them within a CPU budget (``inventory_cpu_share`` of the loop; a strided sample past
  it). Findings are counted as the reporter sends them (:class:`CountedFindings`).
- **Merged across workers**: every ``inventory_publish_interval_s`` the worker reads the
  inventory topic back (one plain consumer, every partition, no group; from the
  earliest offset once, then incrementally), keeps the latest partial of every other
  worker, and publishes two records per stream to the compacted topic: its own partial
  under ``<stream>/<worker>`` and the merged entry (its live partial plus the others',
  see :mod:`streamguard.inventory.merge`) under ``<stream>``. The value under
  ``<stream>`` is exactly the stream's entry of ``inventory.json``; readers that want
  only those skip keys containing ``/``.
- **Served**: the last merged entries, ``{"generated_at", "worker", "streams": [...]}``,
  at ``/api/inventory`` on the metrics port (:meth:`InventoryLink.api_body`).

Tags come from field names and value patterns and, given the worker's embedder, from the
model too: the merged entries are then tagged on a thread of the loop's executor (one
embedding per field per publication; the embedder serialises its calls).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, overload

import faust
import orjson

from streamguard.alerts.manager import SIGNALS_KIND
from streamguard.app.produce import AppSender, Output
from streamguard.app.reporting import worker_source
from streamguard.config import Settings
from streamguard.embed.base import Embedder
from streamguard.events.records import Outcome
from streamguard.inventory.live import LiveInventory, StreamSpec, stream_entry
from streamguard.inventory.merge import (
    Partial,
    PartialSet,
    encode_partial,
    merge_partials,
    partial_key,
)
from streamguard.inventory.tags import Tagger
from streamguard.kafka.partition_reader import PartitionReader
from streamguard.kafka.side_reader import SourceRecord
from streamguard.observability.inventory import InventoryMetrics
from streamguard.wiring import EngineGroup

__all__ = ["CountedFindings", "InventoryLink", "input_streams", "model_of"]

log = logging.getLogger(__name__)

#: A partial larger than this is not published (the merge then lacks this worker's
#: profile, never its counts in its own /api/inventory). Kafka's default message limit
#: is 1 MiB.
MAX_PARTIAL_BYTES = 900_000
_READ_ROUNDS = 50


def _quarantined(outcome: Outcome) -> bool:
    return outcome.status == "quarantine"


_QUARANTINED = _quarantined


class _Values(Sequence[bytes | None]):
    """The records' values, read only for those the profiler picks (most batches of a
    busy worker are only counted)."""

    __slots__ = ("_records",)

    def __init__(self, records: list[SourceRecord]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> bytes | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes | None]: ...
    def __getitem__(self, index: int | slice) -> bytes | None | list[bytes | None]:
        if isinstance(index, slice):
            return [record.value for record in self._records[index]]
        return self._records[index].value


def model_of(engines: EngineGroup | None) -> Embedder | None:
    """The embedder the drift engines' batcher uses (None without one)."""
    batcher = engines.batcher if engines is not None else None
    return batcher.embedder if batcher is not None else None


def input_streams(settings: Settings) -> dict[str, StreamSpec]:
    """The worker's input streams: source topic, schema version, declared fields."""
    from streamguard.events.models import BehaviorEvent, ProductEvent

    return {
        "behavior": StreamSpec(
            settings.topic_behavior, "behavior.v1", frozenset(BehaviorEvent.model_fields)
        ),
        "product": StreamSpec(
            settings.topic_product, "product.v1", frozenset(ProductEvent.model_fields)
        ),
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


class InventoryLink:
    """The worker's live inventory: observe, read back, merge, publish, serve."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        bootstrap: str,
        sender: AppSender,
        metrics: InventoryMetrics,
        streams: Mapping[str, StreamSpec],
        *,
        worker: str | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.bootstrap = bootstrap
        self.sender = sender
        self.metrics = metrics
        self.worker = worker or worker_source()
        self.inventory = LiveInventory(
            streams,
            cpu_share=settings.inventory_cpu_share,
            max_record_bytes=settings.max_record_bytes,
        )
        self.partials = PartialSet()
        self.tagger = Tagger(embedder)
        self._reader: PartitionReader | None = None
        self._body = self._document([])
        self._oversize_logged: set[str] = set()
        self._closed = False
        self._own_suffix = partial_key("", self.worker)  # "/<worker>"
        self._observe_failed = False

    def install(self) -> None:
        """Declare the topic for Faust; attach the publishing timer and the shutdown."""
        s = self.settings
        self.app.topic(s.topic_inventory, partitions=s.partitions)
        self.app.timer(s.inventory_publish_interval_s)(self.publish)
        self.app.on_before_shutdown.connect(self._close)

    # --- observing (the batch flow, after the acks) -------------------------------------

    def observe(
        self,
        stream: str,
        clean_topic: str,
        records: list[SourceRecord],
        outcomes: list[Outcome],
    ) -> None:
        """Count and profile a delivered batch of ``stream`` (see module docs)."""
        if self._closed:
            return
        try:
            self.inventory.observe(stream, _Values(records))
        except Exception:  # a profiler bug must never stop the stream
            self.metrics.failures.labels("observe").inc()
            if not self._observe_failed:
                self._observe_failed = True
                log.exception("inventory: profiling a batch failed (logged once; counted)")
        clean = len(outcomes) - sum(map(_QUARANTINED, outcomes))
        lineage = self.inventory.lineage(stream)
        lineage.count(clean_topic, "clean", clean)
        lineage.count(self.settings.topic_quarantine, "quarantine", len(outcomes) - clean)
        if self.settings.recommender_enabled:
            lineage.count(self.settings.topic_recommendations, "recommendations", clean)

    def count_finding(self, stream: str) -> None:
        """One finding about ``stream`` went to the findings topic."""
        if stream in self.inventory.specs and not self._closed:
            self.inventory.lineage(stream).count(self.settings.topic_findings, "findings")

    # --- publishing (a timer) -----------------------------------------------------------

    async def publish(self) -> None:
        """Read the others' partials, merge, publish and serve (never raises)."""
        if self._closed:
            return
        try:
            await self._read_back()
            merged, outputs = self._merge(time.time())
            if self.tagger.embedder is None:
                entries = self._entries(merged)
            else:  # the model's answer is waited for off the event loop
                loop = asyncio.get_running_loop()
                entries = await loop.run_in_executor(None, self._entries, merged)
            for entry in entries:
                self.metrics.observe_fields(entry["stream"], len(entry["fields"]))
                value = orjson.dumps(entry)
                outputs.append(
                    (self.settings.topic_inventory, None, entry["stream"].encode(), value)
                )
            if outputs:
                futures = await self.sender.get().send(outputs)
                await asyncio.gather(*futures)
            self._body = self._document(entries)
            self.metrics.publications.labels("ok").inc()
        except Exception:
            self.metrics.publications.labels("failed").inc()
            log.exception("inventory: publication failed (retried at the next interval)")

    async def _read_back(self) -> None:
        """Take the inventory topic's new records into :attr:`partials`."""
        s = self.settings
        if self._reader is None:
            reader = PartitionReader(
                self.bootstrap,
                [s.topic_inventory],
                max_partition_fetch_bytes=8 << 20,
                **s.kafka_client_options(),
            )
            try:
                await asyncio.wait_for(reader.start({}), timeout=10.0)
            except BaseException:
                await reader.stop()
                raise
            self._reader = reader
        for _ in range(_READ_ROUNDS):
            records = await self._reader.fetch(0.05)
            if not records:
                break
            for record in records:
                if record.key is None:
                    continue
                key = record.key.decode("utf-8", "replace")
                if key.endswith(self._own_suffix):
                    continue  # this worker's own partial: it holds the live one
                self.partials.add(key, record.value)

    def _merge(self, now: float) -> tuple[list[tuple[Partial, int]], list[Output]]:
        """On the loop (the live profiles are the loop's): each stream's merged partial
        with its number of workers, and this worker's partials to publish."""
        s = self.settings
        outputs: list[Output] = []
        merged = []
        for stream in self.inventory.specs:
            local = self.inventory.partial(stream, self.worker, now=now)
            others = self.partials.current(
                stream, now=now, ttl_s=s.inventory_partial_ttl_s, exclude=self.worker
            )
            whole = merge_partials([local, *others])  # fresh objects, safe on any thread
            if whole.seen == 0 and whole.profile.records == 0:
                continue
            merged.append((whole, 1 + len(others)))
            self.metrics.observe_pii(stream, self.inventory.pii_counts(stream))
            if not local.seen:
                continue
            value = encode_partial(local)
            if len(value) <= MAX_PARTIAL_BYTES:
                outputs.append(
                    (s.topic_inventory, None, partial_key(stream, self.worker).encode(), value)
                )
            elif stream not in self._oversize_logged:
                self._oversize_logged.add(stream)
                log.warning(
                    "inventory: %s's partial is %d bytes (limit %d): not published",
                    stream,
                    len(value),
                    MAX_PARTIAL_BYTES,
                )
        return merged, outputs

    def _entries(self, merged: list[tuple[Partial, int]]) -> list[dict[str, Any]]:
        """The merged partials' inventory entries (tagging may call the model)."""
        entries = []
        for partial, workers in merged:
            spec = self.inventory.specs.get(partial.stream)
            entry = stream_entry(partial, self.tagger, spec.contract if spec else None)
            entry["workers"] = workers
            entries.append(entry)
        return entries

    def _document(self, entries: list[dict[str, Any]]) -> bytes:
        return orjson.dumps(
            {"generated_at": _iso(time.time()), "worker": self.worker, "streams": entries}
        )

    def api_body(self) -> bytes:
        """The JSON served at ``/api/inventory`` (any thread)."""
        return self._body

    async def _close(self, *args: Any, **kwargs: Any) -> None:
        """At shutdown: stop the reader, drop the sketches (the last publication stays
        served)."""
        self._closed = True
        self.inventory.release()
        self.partials = PartialSet()
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await reader.stop()
            except Exception as exc:  # shutdown goes on
                log.debug("inventory: stopping the reader: %r", exc)


class CountedFindings:
    """The findings topic as the reporter sees it, counting findings per stream for the
    inventory's lineage (signal state records are not findings)."""

    def __init__(self, findings: Any, link: InventoryLink) -> None:
        self.findings = findings
        self.link = link

    async def send(self, *, key: bytes, value: bytes) -> Any:
        """Send through the topic; count it when it is a finding."""
        sent = await self.findings.send(key=key, value=value)
        try:
            kind = orjson.loads(value).get("kind")
        except (orjson.JSONDecodeError, AttributeError):
            kind = None
        if kind is not None and kind != SIGNALS_KIND:
            self.link.count_finding(key.decode("utf-8", "replace"))
        return sent
