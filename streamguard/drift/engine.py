"""The drift engine: one :class:`DriftEngine` per stream, a pipeline observer.

It routes each record to the detectors and collects what they find:

* ``on_decoded`` (raw record, before repair) feeds the :class:`SchemaDriftDetector`.
* ``on_clean`` stamps ``_dq.anomaly_score`` from the stream's
  :class:`~streamguard.anomaly.record.RecordScorer` and queues the record's text fields
  with the :class:`~streamguard.embed.scheduler.EmbeddingScheduler`. Nothing here waits
  for the model.
* Embedded texts come back to :meth:`DriftEngine.on_vectors` (in the batcher thread, or
  inline when synchronous) and feed the per-field :class:`SemanticDriftDetector` and the
  scorer's embedding novelty, and every value to the field's
  :class:`~streamguard.drift.field_detectors.FieldDetectors` (strays, language, gradual
  drift).
* ``drain_findings()`` hands over what the detectors found; ``drain_stats()`` what the
  engine measured, which :func:`streamguard.observability.drift.export_engine` exports;
  ``active_signals()`` the drift conditions that hold now (the alert manager resolves an
  incident only once they have cleared); ``acknowledge(field)`` accepts a drift of a
  field as its new reference (an incident resolved as accepted).

No metrics and no thread of its own: :mod:`streamguard.wiring` builds the engines and the
shared embedding thread.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
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
>>> engine.drain_stats().anomaly_scores
[0.0]
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from streamguard.anomaly.record import RecordScore, RecordScorer
from streamguard.drift.field_detectors import FieldDetectors
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector
from streamguard.drift.stats import EngineStats
from streamguard.drift.stream_fields import StreamFields
from streamguard.embed.scheduler import EmbeddingScheduler
from streamguard.events.findings import Finding
from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PRODUCT_OPS, BehaviorEvent, ProductEvent
from streamguard.events.records import Outcome, SourcePosition
from streamguard.events.signals import Signal

if TYPE_CHECKING:
    from streamguard.embed.base import Embedder
    from streamguard.embed.batcher import MicroBatcher
    from streamguard.embed.cache import EmbeddingCache

__all__ = ["TEXT_FIELDS", "DriftEngine", "EngineStats"]

Vectors = npt.NDArray[np.float32]
#: Text fields embedded per stream (override with ``text_fields``).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "behavior": ("query",),
    "product": ("title", "description", "category", "brand"),
}
_DECLARED = {
    "behavior": tuple(BehaviorEvent.model_fields),
    "product": tuple(ProductEvent.model_fields),
}
#: Default options of the contamination, language and gradual detectors (on, defaults).
_DEFAULTS: Mapping[str, Any] = {}
_GROUPS = {"behavior": ("event_type", BEHAVIOR_EVENT_TYPES), "product": ("op", PRODUCT_OPS)}


class DriftEngine:
    """Schema drift, semantic drift and anomaly scores for one stream.

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``, or a stream a contract declares (with ``fields``).
    fields
        The fields of a stream a contract declares (declared, text, numeric and group
        fields: :func:`streamguard.contracts.drift_fields.drift_fields`); ``None``: the
        shipped stream's.
    embedder
        The embedding model; ``None`` disables semantic drift and embedding novelty
        (anomaly scores and schema drift still run).
    cache, batcher, synchronous, batch_size, max_wait_ms, max_queue
        How texts are embedded: see :class:`~streamguard.embed.scheduler.EmbeddingScheduler`
        (a shared ``batcher``'s ``on_batch`` is
        :func:`~streamguard.embed.scheduler.dispatch_batch`).
    text_fields
        Text fields embedded and scored (default: :data:`TEXT_FIELDS` of the stream).
    anomaly_threshold
        Records scoring at least this emit an ``anomaly`` finding.
    semantic_options, schema_options, anomaly_options
        Keyword arguments for each :class:`SemanticDriftDetector`, the
        :class:`SchemaDriftDetector` and the :class:`~streamguard.anomaly.models.NumericAnomaly`.
    contamination_options, language_options, gradual_options
        Keyword arguments for each text field's
        :class:`~streamguard.drift.contamination.ContaminationDetector` (strays in a
        low-cardinality field),
        :class:`~streamguard.drift.language.LanguageDriftDetector` (its language) and
        :class:`~streamguard.drift.gradual.GradualDriftDetector` (far values repeating
        more and more, against a frozen reference); ``None`` turns that detector off.
        All run in the embedding thread.
    max_findings
        Findings kept until drained; older ones are dropped (and counted).
    clock
        Seconds since the epoch, for ``detected_at``.
    """

    def __init__(
        self,
        stream: str,
        *,
        fields: StreamFields | None = None,
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
        contamination_options: Mapping[str, Any] | None = _DEFAULTS,
        language_options: Mapping[str, Any] | None = _DEFAULTS,
        gradual_options: Mapping[str, Any] | None = _DEFAULTS,
        max_findings: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if stream not in TEXT_FIELDS and fields is None:
            raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
        if not 0.0 < anomaly_threshold <= 1.0:
            raise ValueError("anomaly_threshold must be in (0, 1]")
        self.stream = stream
        if text_fields is None:
            text_fields = fields.text if fields is not None else TEXT_FIELDS[stream]
        self.text_fields = text_fields
        self.anomaly_threshold = anomaly_threshold
        self.max_findings = max_findings
        self._clock = clock
        self._semantic_options = dict(semantic_options or {})
        group_field: str | None
        group_values: Iterable[str]
        if fields is None:
            group_field, group_values = _GROUPS[stream]
            declared: tuple[str, ...] = _DECLARED[stream]
        else:
            group_field, group_values = fields.group_field, fields.group_values
            declared = fields.declared
        self.schema = SchemaDriftDetector(
            stream,
            declared,
            group_field=group_field,
            group_values=group_values,
            clock=clock,
            **dict(schema_options or {}),
        )
        self.scorer = RecordScorer(
            stream,
            text_fields=self.text_fields,
            threshold=anomaly_threshold,
            numeric_options=anomaly_options,
            numeric_fields=fields.numeric if fields is not None else None,
            group_field=fields.group_field if fields is not None else None,
        )
        self.semantic: dict[str, SemanticDriftDetector] = {}
        #: The per-value detectors of each text field (strays, language, gradual drift).
        self.fields = FieldDetectors(
            stream,
            contamination=contamination_options,
            language=language_options,
            gradual=gradual_options,
            clock=clock,
        )
        # the same dicts, by kind (the detector state saves and restores them in place)
        self.contamination = self.fields.contamination
        self.language = self.fields.language
        self.gradual = self.fields.gradual
        self._findings: deque[Finding] = deque(maxlen=max_findings)
        self._findings_lock = threading.Lock()
        self._finding_counts: Counter[tuple[str, str | None]] = Counter()
        self.findings_dropped = 0
        #: Findings emitted so far (drained or not): tells a caller which record's
        #: processing emitted one (``check`` merges its child process's findings by it).
        self.findings_emitted = 0
        self._scores: list[float] = []
        #: Where texts go to be embedded (``None``: no embedder).
        self.embedding: EmbeddingScheduler | None = None
        self._source = SourcePosition("", 0, 0)
        self._on_text = self._submit_text  # bound once: no allocation per record
        if embedder is not None:
            self.embedding = EmbeddingScheduler(
                embedder,
                self.on_vectors,
                cache=cache,
                batcher=batcher,
                synchronous=synchronous,
                batch_size=batch_size,
                max_wait_ms=max_wait_ms,
                max_queue=max_queue,
            )

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (a synchronous engine, or one without an embedder): all but the lock."""
        state = self.__dict__.copy()
        del state["_findings_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._findings_lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler's own embedding thread (a no-op when synchronous or shared)."""
        if self.embedding is not None:
            self.embedding.start()

    def flush(self, timeout: float = 60.0) -> bool:
        """Process every text queued so far; False when the batcher timed out."""
        return self.embedding.flush(timeout) if self.embedding is not None else True

    def close(self, timeout: float = 5.0) -> None:
        """Flush, and stop the scheduler's own embedding thread."""
        if self.embedding is not None:
            self.embedding.close(timeout)

    # --- PipelineObserver ----------------------------------------------------------------

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Schema drift sees the record's raw field types."""
        for finding in self.schema.update(record, source):
            self._emit(finding)

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Score the record into ``_dq.anomaly_score`` and queue its texts."""
        self._source = source  # the tag of the texts _submit_text queues for this record
        on_text = self._on_text if self.embedding is not None else None
        result = self.scorer.score_and_learn(record, on_text)
        record["_dq"]["anomaly_score"] = result.score
        self._scores.append(result.score)
        if result.score >= self.anomaly_threshold:
            self._anomaly(record, source, result)

    def on_outcome(self, outcome: Outcome) -> None:
        """Nothing to do: decisions are counted by the worker's own metrics."""

    # --- embedding path -------------------------------------------------------------------

    def _submit_text(self, field: str, text: str) -> None:
        # Called back by the scorer from on_clean, which set _source just before (one
        # pipeline thread calls on_clean).
        if self.embedding is not None:
            self.embedding.submit(text, (field, self._source))

    def on_vectors(self, items: list[tuple[str, Any]], vectors: Vectors) -> None:
        """Feed embedded texts (tagged ``(field, source)``) to the semantic detectors and
        the scorer's novelty (batcher thread, or inline when synchronous). Its halves
        touch separate state: ``check``'s child runs the first, its pipeline the second."""
        self.detect_vectors(items, vectors)
        self.learn_vectors(items, vectors)

    def learn_vectors(self, items: list[tuple[str, Any]], vectors: Vectors) -> None:
        """The anomaly scorer's embedding novelty learns a batch of :meth:`on_vectors`."""
        for field, rows in _rows_by_field(items).items():
            self.scorer.learn_vectors(field, [items[row][0] for row in rows], vectors[rows])

    def detect_vectors(self, items: list[tuple[str, Any]], vectors: Vectors) -> None:
        """The drift detectors of embedded texts see a batch of :meth:`on_vectors`."""
        for field, rows in _rows_by_field(items).items():
            self.fields.prime(field, [items[row][0] for row in rows], vectors[rows])
        for row, (text, (field, source)) in enumerate(items):
            detector = self.semantic.get(field)
            if detector is None:
                detector = self.semantic[field] = SemanticDriftDetector(
                    self.stream, field, clock=self._clock, **self._semantic_options
                )
            finding = detector.update(text, vectors[row], source)
            if finding is not None:
                self._emit(finding)
            for finding in self.fields.update(field, text, vectors[row], source):
                self._emit(finding)

    # --- findings and statistics ----------------------------------------------------------

    def _anomaly(
        self, record: Mapping[str, Any], source: SourcePosition, result: RecordScore
    ) -> None:
        field, score = result.field, result.score
        value = record.get(field) if field else None
        self._emit(
            Finding(
                kind="anomaly",
                stream=self.stream,
                field=field,
                severity="critical" if score >= 0.99 else "warning",
                statistic=score,
                threshold=self.anomaly_threshold,
                window={"group": result.group},
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
            self.findings_emitted += 1
            self._finding_counts[finding.kind, finding.field] += 1

    def drain_findings(self) -> list[Finding]:
        """Findings since the last call (oldest first)."""
        with self._findings_lock:
            out = list(self._findings)
            self._findings.clear()
        return out

    def drain_stats(self) -> EngineStats:
        """Scores and finding counts since the last call, and the latest drift statistics
        (the worker exports them once per batch)."""
        scores, self._scores = self._scores, []
        with self._findings_lock:
            counts = dict(self._finding_counts)
            self._finding_counts.clear()
        drift: list[tuple[str, str, float, float]] = []
        for field, detector in list(self.semantic.items()):  # the batcher thread may add one
            block = detector.last_block
            if block is not None:
                drift.append((field, "semantic", block.statistic, block.threshold))
        drift += self.fields.statistics()
        for field, (statistic, threshold) in self.schema.drain_statistics().items():
            drift.append((field, "schema", statistic, threshold))
        return EngineStats(self.stream, scores, counts, drift)

    def active_signals(self) -> list[Signal]:
        """The drift conditions that hold now (schema, then semantic by field); read once
        per batch or tick. Anomalies are per-record events, not signals: an anomaly
        incident stays open while findings keep coming and resolves a quiet period after
        the last one."""
        signals = self.schema.active_signals()
        semantic = list(self.semantic.items())  # the batcher thread may add one
        for _, detector in sorted(semantic, key=lambda item: item[0]):
            signal = detector.active_signal()
            if signal is not None:
                signals.append(signal)
        signals += self.fields.active_signals()
        return signals

    def acknowledge(self, field: str) -> list[str]:
        """Accept the drift of ``field`` that its detectors hold open as the new normal
        (an incident resolved as accepted): each detector with an open episode takes the
        drifted values into its reference, and its signal clears. Returns the detectors
        that accepted one (``semantic``, ``contamination``, ``language``, ``gradual``).
        Not synchronised with the embedding thread: call it between batches (after
        :meth:`flush`)."""
        accepted = []
        semantic = self.semantic.get(field)
        if semantic is not None and semantic.is_open:
            semantic.acknowledge()
            accepted.append("semantic")
        return accepted + self.fields.acknowledge(field)


def _rows_by_field(items: list[tuple[str, Any]]) -> dict[str, list[int]]:
    """The rows of a batch of ``(text, (field, source))`` items, by field, in order."""
    rows_by_field: dict[str, list[int]] = {}
    for row, (_, (field, _)) in enumerate(items):
        rows_by_field.setdefault(field, []).append(row)
    return rows_by_field
