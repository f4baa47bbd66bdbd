"""The drift and anomaly engine: one :class:`DriftEngine` per stream, a pipeline observer.

* ``on_decoded`` (raw record, before repair) feeds schema drift.
* ``on_clean`` scores the record (``_dq.anomaly_score``) from numeric features, text
  surprise and, when the text's vector is already cached, embedding novelty; then it
  queues the record's text fields for embedding. Nothing here waits for the model.
* Embedded texts feed the per-field semantic drift detectors, in the batcher thread
  (``synchronous=False``, the worker) or inline in batches (``synchronous=True``:
  deterministic, for ``check`` and tests).
* ``drain_findings()`` hands over what the detectors found; ``update_metrics()`` exports
  statistics once per worker batch.

Examples
--------
>>> from streamguard.embed.embedder import HashingEmbedder
>>> from streamguard.pipeline import RecordPipeline
>>> from streamguard.events.records import SourcePosition
>>> import orjson
>>> engine = DriftEngine("product", embedder=HashingEmbedder(dim=32), synchronous=True)
>>> pipeline = RecordPipeline("product", observers=[engine])
>>> raw = {"event_id": "e1", "product_id": "p1", "op": "upsert", "title": "Casa Kettle",
...        "price": 20.0, "ts": "2026-11-01T00:00:00Z"}
>>> outcome = pipeline.process(orjson.dumps(raw), SourcePosition("t", 0, 0))
>>> orjson.loads(outcome.value)["_dq"]["anomaly_score"]
0.0
>>> engine.flush(), engine.drain_findings()
(True, [])
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.anomaly.models import (
    KeyedPrice,
    NumericAnomaly,
    RunningStats,
    TextSurprise,
    z_to_scores,
)
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector
from streamguard.embed.batcher import Item, MicroBatcher, embed_items
from streamguard.embed.cache import EmbeddingCache
from streamguard.embed.embedder import Embedder
from streamguard.events.findings import Finding
from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PRODUCT_OPS, BehaviorEvent, ProductEvent
from streamguard.events.records import Outcome, SourcePosition
from streamguard.observability.drift import DriftMetrics
from streamguard.observability.metrics import observe_many

__all__ = ["SURPRISE_FIELDS", "TEXT_FIELDS", "DriftEngine", "dispatch_batch", "export_batcher"]

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
#: Text fields embedded per stream (override with ``text_fields``).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "behavior": ("query",),
    "product": ("title", "description", "category", "brand"),
}
#: Text fields scored for character-level surprise (random-character titles).
SURPRISE_FIELDS = frozenset({"title", "query"})
_NUMERIC = {"behavior": ("price", "quantity"), "product": ("price", "stock")}
_DECLARED = {
    "behavior": tuple(BehaviorEvent.model_fields),
    "product": tuple(ProductEvent.model_fields),
}
#: Spreads below the usual cosine before a text starts to score as an anomaly.
_CENTROID_Z_FLOOR = 4.0
_GROUPS = {"behavior": ("event_type", BEHAVIOR_EVENT_TYPES), "product": ("op", PRODUCT_OPS)}


class _Centroid:
    """Running mean direction of a field's embeddings and the usual cosine to it.

    Each text is scored when its vector arrives (in the embedding thread, a whole batch
    in one matrix product) and the score kept in :attr:`scores`, so the pipeline reads a
    text's score with a dict lookup instead of a dot product per record: a text's score is
    the one of its latest embedding, against the centroid of that moment.
    """

    __slots__ = ("direction", "max_texts", "mean", "scores", "stats", "usual", "spread")

    def __init__(self, dim: int, max_texts: int = 100_000) -> None:
        self.mean = np.zeros(dim, np.float32)
        self.direction = self.mean
        self.stats = RunningStats(horizon=5000)
        self.usual = 0.0
        self.spread = 1.0
        self.max_texts = max_texts
        #: text -> anomaly score (0 for a usual text, towards 1 for one far from the rest).
        self.scores: dict[str, float] = {}

    def update(self, texts: Sequence[str], vectors: Vectors) -> None:
        """Move the centroid towards ``vectors`` and (re)score their ``texts``."""
        weight = min(1.0, len(vectors) / max(self.stats.n, 1))
        self.mean = (1.0 - weight) * self.mean + weight * vectors.mean(axis=0)
        direction = self.mean / max(float(np.linalg.norm(self.mean)), 1e-9)
        cosines = (vectors @ direction).astype(np.float64)
        for cosine in cosines.tolist():
            self.stats.update(cosine)
        # Swapped in as whole values: the pipeline thread reads them without a lock.
        self.usual, self.spread = self.stats.mean, max(self.stats.std, 0.05)
        self.direction = direction
        if self.stats.n < 100:
            return  # too few texts to say what is usual: nothing scores yet
        scores = self.scores
        if len(scores) + len(texts) > self.max_texts:
            # Start afresh rather than track recency: texts still in use come back soon.
            scores = self.scores = {}
        scores.update(zip(texts, self.score_cosines(cosines).tolist(), strict=True))

    def score_cosines(self, cosines: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """:func:`~streamguard.anomaly.models.z_to_score` of each cosine's distance below
        the usual cosine, in spreads: the score of each text whose cosine it is."""
        return z_to_scores((self.usual - cosines) / self.spread, _CENTROID_Z_FLOOR, 3.0)


def dispatch_batch(items: list[Item], vectors: Vectors) -> None:
    """``on_batch`` of a batcher shared by several engines: route rows to their engine."""
    by_engine: dict[int, tuple[DriftEngine, list[int]]] = {}
    for row, (_, tag) in enumerate(items):
        engine = tag[0]
        by_engine.setdefault(id(engine), (engine, []))[1].append(row)
    for engine, rows in by_engine.values():
        engine.on_vectors([items[r] for r in rows], vectors[rows])


class DriftEngine:
    """Schema drift, semantic drift and anomaly scores for one stream.

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``.
    embedder
        The embedding model; ``None`` disables semantic drift (anomaly and schema drift
        still run).
    cache
        Text -> vector cache (share one between engines).
    batcher
        A :class:`MicroBatcher` shared between engines, whose ``on_batch`` is
        :func:`dispatch_batch`; when ``None`` and not synchronous, the engine makes its own.
    synchronous
        Embed inline in batches of ``batch_size`` (deterministic; no thread).
    anomaly_threshold
        Records scoring at least this emit an ``anomaly`` finding.
    semantic_options, schema_options, anomaly_options
        Keyword arguments for each :class:`SemanticDriftDetector`, the
        :class:`SchemaDriftDetector` and :class:`NumericAnomaly`.
    metrics
        Where :meth:`update_metrics` exports (``None``: no metrics).
    max_findings
        Findings kept until drained; older ones are dropped (and counted).
    """

    def __init__(
        self,
        stream: str,
        *,
        embedder: Embedder | None = None,
        cache: EmbeddingCache | None = None,
        batcher: MicroBatcher | None = None,
        synchronous: bool = False,
        batch_size: int = 256,
        max_wait_ms: float = 20.0,
        max_queue: int = 10_000,
        text_fields: tuple[str, ...] | None = None,
        anomaly_threshold: float = 0.9,
        semantic_options: Mapping[str, Any] | None = None,
        schema_options: Mapping[str, Any] | None = None,
        anomaly_options: Mapping[str, Any] | None = None,
        metrics: DriftMetrics | None = None,
        max_findings: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if stream not in TEXT_FIELDS:
            raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
        if not 0.0 < anomaly_threshold <= 1.0:
            raise ValueError("anomaly_threshold must be in (0, 1]")
        self.stream = stream
        self.embedder = embedder
        self.cache = cache if cache is not None else EmbeddingCache()
        self.synchronous = synchronous
        self.batch_size = batch_size
        self.text_fields = text_fields if text_fields is not None else TEXT_FIELDS[stream]
        self.anomaly_threshold = anomaly_threshold
        self.metrics = metrics
        self._clock = clock
        self._semantic_options = dict(semantic_options or {})
        group_field, group_values = _GROUPS[stream]
        self.schema = SchemaDriftDetector(
            stream,
            _DECLARED[stream],
            group_field=group_field,
            group_values=group_values,
            clock=clock,
            **dict(schema_options or {}),
        )
        self.numeric = NumericAnomaly(**dict(anomaly_options or {}))
        self.prices = KeyedPrice()
        self._numeric_fields = _NUMERIC[stream]
        # Character surprise on short fields only: descriptions are long and varied.
        self._surprise = {
            field: TextSurprise() for field in self.text_fields if field in SURPRISE_FIELDS
        }
        self._text_plan = [(field, self._surprise.get(field)) for field in self.text_fields]
        self.semantic: dict[str, SemanticDriftDetector] = {}
        self._centroids: dict[str, _Centroid] = {}
        self._findings: deque[Finding] = deque(maxlen=max_findings)
        self._findings_lock = threading.Lock()
        self.findings_dropped = 0
        self._scores: list[float] = []
        self._pending: list[Item] = []
        self._owns_batcher = False
        self.batcher = batcher
        if embedder is not None and not synchronous and batcher is None:
            self.batcher = MicroBatcher(
                embedder,
                on_batch=self.on_vectors,
                cache=self.cache,
                batch_size=batch_size,
                max_wait_ms=max_wait_ms,
                max_queue=max_queue,
            )
            self._owns_batcher = True

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the embedding thread (a no-op when synchronous or shared)."""
        if self.batcher is not None and self._owns_batcher:
            self.batcher.start()

    def flush(self, timeout: float = 60.0) -> bool:
        """Process every text queued so far; False when the batcher timed out."""
        if self.synchronous:
            self._embed_pending()
            return True
        return self.batcher.flush(timeout) if self.batcher is not None else True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop the engine's own embedding thread."""
        self.flush(timeout)
        if self.batcher is not None and self._owns_batcher:
            self.batcher.stop(timeout)

    # --- PipelineObserver ----------------------------------------------------------------

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Schema drift sees the record's raw field types."""
        for finding in self.schema.update(record, source):
            self._emit(finding)

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Score the record into ``_dq.anomaly_score`` and queue its texts."""
        features: dict[str, float] = {}
        for name in self._numeric_fields:
            value = record.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                features[name] = float(value)
        group = self._group(record)
        score = self.numeric.score_and_learn(group, features) if features else 0.0
        culprit = None
        if score >= self.anomaly_threshold:
            culprit = max(features, key=lambda n: self.numeric.score_one(group, {n: features[n]}))
        price = features.get("price")
        if self.stream == "behavior" and price is not None and record.get("product_id"):
            # behaviour events carry no category: compare with the product's usual price
            key = (record["product_id"], record.get("currency"))
            product_score = self.prices.score_and_learn(key, price)
            if product_score > score:
                score, culprit = product_score, "price"
        queue = self.embedder is not None
        for field, surprise in self._text_plan:
            text = record.get(field)
            if not isinstance(text, str) or not text:
                continue
            text_score = surprise.score_and_learn(text) if surprise is not None else 0.0
            centroid = self._centroids.get(field)
            if centroid is not None:
                # Scored when the text was last embedded (see _Centroid).
                text_score = max(text_score, centroid.scores.get(text, 0.0))
            if text_score > score:
                score, culprit = text_score, field
            if queue:
                self._queue(text, field, source)
        score = round(min(1.0, score), 4)
        record["_dq"]["anomaly_score"] = score
        self._scores.append(score)
        if score >= self.anomaly_threshold:
            self._anomaly(record, source, score, culprit, group)

    def on_outcome(self, outcome: Outcome) -> None:
        """Nothing to do: decisions are counted by the worker's own metrics."""

    # --- embedding path -------------------------------------------------------------------

    def _queue(self, text: str, field: str, source: SourcePosition) -> None:
        if self.synchronous:
            self._pending.append((text, (self, field, source)))
            if len(self._pending) >= self.batch_size:
                self._embed_pending()
        elif self.batcher is not None:
            self.batcher.submit(text, (self, field, source))

    def _embed_pending(self) -> None:
        if not self._pending or self.embedder is None:
            return
        items, self._pending = self._pending, []
        vectors, _ = embed_items(self.embedder, self.cache, [t for t, _ in items], self.batch_size)
        self.on_vectors(items, vectors)

    def on_vectors(self, items: list[Item], vectors: Vectors) -> None:
        """Feed embedded texts to the semantic detectors (batcher thread or inline)."""
        rows_by_field: dict[str, list[int]] = {}
        for row, (text, tag) in enumerate(items):
            field, source = tag[1], tag[2]
            rows_by_field.setdefault(field, []).append(row)
            detector = self.semantic.get(field)
            if detector is None:
                detector = self.semantic[field] = SemanticDriftDetector(
                    self.stream, field, clock=self._clock, **self._semantic_options
                )
            finding = detector.update(text, vectors[row], source)
            if finding is not None:
                self._emit(finding)
        for field, rows in rows_by_field.items():
            centroid = self._centroids.get(field)
            if centroid is None:
                centroid = self._centroids[field] = _Centroid(vectors.shape[1])
            centroid.update([items[row][0] for row in rows], vectors[rows])

    # --- findings and metrics ---------------------------------------------------------------

    def _group(self, record: Mapping[str, Any]) -> str:
        key = "category" if self.stream == "product" else "event_type"
        return f"{record.get(key) or '_none'}:{record.get('currency') or '_none'}"

    def _anomaly(
        self,
        record: Mapping[str, Any],
        source: SourcePosition,
        score: float,
        field: str | None,
        group: str,
    ) -> None:
        value = record.get(field) if field else None
        self._emit(
            Finding(
                kind="anomaly",
                stream=self.stream,
                field=field,
                severity="critical" if score >= 0.99 else "warning",
                statistic=score,
                threshold=self.anomaly_threshold,
                window={"group": group},
                examples=[f"{field}={value!r}", f"event_id={record.get('event_id')!r}"],
                position=source,
                detected_at=self._clock(),
                summary=f"{self.stream} record scored {score:.2f} for {field}={value!r}",
            )
        )

    def _emit(self, finding: Finding) -> None:
        with self._findings_lock:
            if len(self._findings) == self._findings.maxlen:
                self.findings_dropped += 1
            self._findings.append(finding)
        if self.metrics is not None:
            self.metrics.count_finding(finding.stream, finding.kind, finding.field)

    def drain_findings(self) -> list[Finding]:
        """Findings since the last call (oldest first)."""
        with self._findings_lock:
            out = list(self._findings)
            self._findings.clear()
        return out

    def update_metrics(self) -> None:
        """Export anomaly scores, drift statistics and (own) batcher counters."""
        scores, self._scores = self._scores, []
        if self.metrics is None:
            return
        observe_many(self.metrics.anomaly_score.labels(self.stream), scores)
        for field, detector in list(self.semantic.items()):
            block = detector.last_block
            if block is not None:
                self.metrics.set_drift(
                    self.stream, field, "semantic", block.statistic, block.threshold
                )
        for (field, _), (statistic, threshold) in list(self.schema.last_statistics.items()):
            self.metrics.set_drift(self.stream, field, "schema", statistic, threshold)
        if self.batcher is not None and self._owns_batcher:
            export_batcher(self.batcher, self.cache, self.metrics)


def export_batcher(batcher: MicroBatcher, cache: EmbeddingCache, metrics: DriftMetrics) -> None:
    """Export a batcher's and its cache's counters (call once per batch for a shared one)."""
    batches = []
    while batcher.recent_batches:
        batches.append(batcher.recent_batches.popleft())
    starts = int(getattr(batcher.embedder, "starts", 0))  # a ProcessEmbedder's children
    metrics.observe_embedding(batcher.stats(), cache.hits, cache.misses, batches, starts)
