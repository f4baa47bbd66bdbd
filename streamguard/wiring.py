"""Build the engine from :class:`~streamguard.config.Settings`: one embedder, one cache and
one batcher shared by the stream engines (the worker), or synchronous engines (``check``).

Examples
--------
>>> from streamguard.config import Settings
>>> engines = build_engines(Settings(model="hashing"), ("behavior", "product"), synchronous=True)
>>> sorted(engines), engines["product"].embedding.cache is engines["behavior"].embedding.cache
(['behavior', 'product'], True)
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.anomaly.stamp import AnomalyStamp
from streamguard.config import Settings
from streamguard.contracts.contract import StreamContract
from streamguard.contracts.drift_fields import drift_fields, new_stream_fields
from streamguard.drift.engine import TEXT_FIELDS, DriftEngine
from streamguard.drift.stream_fields import StreamFields
from streamguard.embed.backend import Backend, load_embedder
from streamguard.embed.base import Device, Embedder
from streamguard.embed.batcher import MicroBatcher
from streamguard.embed.cache import EmbeddingCache
from streamguard.embed.hashing import HashingEmbedder
from streamguard.embed.process import ProcessEmbedder
from streamguard.embed.scheduler import dispatch_batch
from streamguard.observability.drift import DriftMetrics, export_batcher, export_engine
from streamguard.observability.registry import CollectorRegistry
from streamguard.pipeline import PipelineObserver
from streamguard.quality.scorer import QualityScorer

__all__ = [
    "HASHING",
    "EngineGroup",
    "LazyEmbedder",
    "build_anomaly_stamp",
    "build_embedder",
    "build_engines",
    "build_scorers",
    "pipeline_observers",
]

#: ``STREAMGUARD_MODEL`` value that selects the model-free hashing embedder.
HASHING = "hashing"


@functools.lru_cache(maxsize=2)
def _load(
    model: str, device: Device, backend: Backend = "auto", cache_dir: str | None = None
) -> Embedder:
    # One copy per process: check runs and tests reuse the loaded weights. On CPU, leave
    # a core to the pipeline: the model must never starve validation.
    threads = max(1, (os.cpu_count() or 2) - 1)
    return load_embedder(model, device, backend, threads=threads, cache_dir=cache_dir)


class LazyEmbedder:
    """Loads the model on first use, so runs that never see a text never pay for it.

    >>> lazy = LazyEmbedder(lambda: HashingEmbedder(dim=8))
    >>> lazy.loaded, lazy.embed(["a"]).shape, lazy.loaded
    (False, (1, 8), True)
    """

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self._factory = factory
        self._model: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the model was loaded."""
        return self._model is not None

    def _get(self) -> Embedder:
        with self._lock:
            if self._model is None:
                self._model = self._factory()
            return self._model

    @property
    def dim(self) -> int:
        """The model's vector length (loads it)."""
        return self._get().dim

    @property
    def device(self) -> str:
        """Where the model runs (``cpu`` until it is loaded)."""
        return str(getattr(self._model, "device", "cpu"))

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed with the model (loading it first if needed)."""
        return self._get().embed(texts)


def build_embedder(settings: Settings, *, isolated: bool = False) -> Embedder:
    """The embedder ``settings.model`` / ``settings.device`` name, loaded on first use.

    ``isolated``: the long-running worker's choice; with ``settings.embedder_process``
    the model runs in a child process (:class:`ProcessEmbedder`) rather than this one.
    Close a :class:`ProcessEmbedder` when done (its child process ends).
    """
    if settings.model == HASHING:
        return HashingEmbedder()
    factory = functools.partial(
        _load, settings.model, settings.device, settings.embedder_backend, settings.onnx_cache_dir
    )
    if isolated and settings.embedder_process:
        return ProcessEmbedder(factory)
    return LazyEmbedder(factory)


class EngineGroup(dict[str, DriftEngine]):
    """Engines by stream, plus the shared batcher's lifecycle and metrics.

    ``make(stream, fields)``: builds one more engine sharing the group's embedder, cache
    and batcher (:meth:`add_contracts`).
    """

    def __init__(
        self,
        engines: dict[str, DriftEngine],
        batcher: MicroBatcher | None,
        cache: EmbeddingCache,
        metrics: DriftMetrics | None,
        make: Callable[[str, StreamFields], DriftEngine] | None = None,
    ) -> None:
        super().__init__(engines)
        self.batcher = batcher
        self.cache = cache
        self.metrics = metrics
        self._make = make

    def add_contracts(self, contracts: Mapping[str, StreamContract] | None) -> list[str]:
        """Add an engine for each stream only a contract declares and the group lacks
        (fields from the contract's schema); the streams added. Call before the engines
        start seeing records."""
        added = []
        for stream, fields in new_stream_fields(contracts).items():
            if stream not in self and self._make is not None:
                self[stream] = self._make(stream, fields)
                added.append(stream)
        return added

    def start(self) -> None:
        """Start the shared embedding thread."""
        if self.batcher is not None:
            self.batcher.start()

    def close(self, timeout: float = 5.0) -> None:
        """Flush every engine and stop the shared thread."""
        for engine in self.values():
            engine.flush(timeout)
        if self.batcher is not None:
            self.batcher.stop(timeout)

    def acknowledge(self, stream: str, field: str) -> list[str]:
        """Accept ``stream``'s open drift of ``field`` as its new reference (an incident
        resolved as accepted); the detectors that accepted one (see
        :meth:`DriftEngine.acknowledge`)."""
        engine = self.get(stream)
        return [] if engine is None else engine.acknowledge(field)

    def update_metrics(self) -> None:
        """Export every engine's statistics and the shared batcher's (once per worker batch).

        Without metrics the engines' statistics are drained all the same (not kept).
        """
        for engine in self.values():
            if self.metrics is None:
                engine.drain_stats()
            else:
                export_engine(engine, self.metrics)
        if self.batcher is not None and self.metrics is not None:
            export_batcher(self.batcher, self.cache, self.metrics)


def build_engines(
    settings: Settings,
    streams: Iterable[str],
    *,
    synchronous: bool = False,
    registry: CollectorRegistry | None = None,
    embedder: Embedder | None = None,
    contracts: Mapping[str, StreamContract] | None = None,
    **engine_options: Any,
) -> EngineGroup:
    """One :class:`DriftEngine` per stream sharing embedder, cache and (async) batcher.

    ``registry``: export :class:`DriftMetrics` there (the worker's registry). ``embedder``:
    use this one instead of loading ``settings.model`` (tests load the model once).
    ``contracts``: a stream only a contract declares gets its fields from the contract
    (:func:`~streamguard.contracts.drift_fields.drift_fields`); the group's
    :meth:`EngineGroup.add_contracts` adds more later.
    Other keyword arguments go to every :class:`DriftEngine`.
    """
    engine_options.setdefault(
        "gradual_options", {"rebaseline_values": settings.drift_rebaseline_values}
    )
    model = embedder if embedder is not None else build_embedder(settings)
    cache = EmbeddingCache(settings.embed_cache_size)
    metrics = DriftMetrics(registry) if registry is not None else None
    batcher = None
    if not synchronous:
        batcher = MicroBatcher(
            model,
            on_batch=dispatch_batch,
            cache=cache,
            batch_size=settings.batch_size,
            max_wait_ms=settings.max_batch_latency_ms,
            max_queue=max(settings.embed_queue_size, settings.batch_size),
            cpu_share=settings.embedder_cpu_share,
        )

    def make(stream: str, fields: StreamFields | None = None) -> DriftEngine:
        return DriftEngine(
            stream,
            fields=fields,
            embedder=model,
            cache=cache,
            batcher=batcher,
            synchronous=synchronous,
            batch_size=settings.batch_size,
            anomaly_threshold=settings.anomaly_threshold,
            **engine_options,
        )

    declared = new_stream_fields(contracts)
    engines = {stream: make(stream, declared.get(stream)) for stream in streams}
    return EngineGroup(engines, batcher, cache, metrics, make)


def build_scorers(
    settings: Settings,
    *,
    catalogue: Any = None,
    contracts: Mapping[str, StreamContract] | None = None,
    **overrides: Any,
) -> dict[str, QualityScorer]:
    """One scorer per stream, configured from ``settings`` (the worker's wiring).

    ``catalogue`` (``.get(product_id)``) enables consistency on the behaviour stream;
    ``contracts``: also one scorer per new stream a contract declares;
    ``overrides`` go to every :class:`QualityScorer` (``weights``, ``clock``, ...).

    >>> from streamguard.config import Settings
    >>> scorers = build_scorers(Settings(quality_window=50), catalogue={}, max_window_s=2)
    >>> sorted(scorers), scorers["behavior"].window, scorers["product"].max_window_s
    (['behavior', 'product'], 50, 2)
    >>> scorers["product"].catalogue is None
    True
    """
    common: dict[str, Any] = {
        "late_after_s": settings.quality_late_after_s,
        "window": settings.quality_window,
        "detector_min_windows": settings.quality_min_windows,
        **overrides,
    }
    scorers = {
        "behavior": QualityScorer("behavior", catalogue=catalogue, **common),
        "product": QualityScorer("product", **common),
    }
    for contract in (contracts or {}).values():
        if not contract.shipped:
            scorers[contract.stream] = QualityScorer(
                contract.stream, fields=contract.completeness_fields(), **common
            )
    return scorers


def pipeline_observers(
    *,
    drift: PipelineObserver | None,
    quality: PipelineObserver,
    clock: PipelineObserver | None = None,
) -> list[PipelineObserver]:
    """A stream's pipeline observers, in the order they must run (worker and ``check``).

    The drift engine first: it fills ``_dq.anomaly_score``, which quality reads. Then
    the ``clock`` quality reads "now" from, when it is the stream's own (``check`` over
    a file), then the quality scorer. ``None`` leaves a part out.

    >>> from streamguard.config import Settings
    >>> scorer = build_scorers(Settings())["product"]
    >>> pipeline_observers(drift=None, quality=scorer) == [scorer]
    True
    """
    return [observer for observer in (drift, clock, quality) if observer is not None]


def build_anomaly_stamp(
    settings: Settings, stream: str, contracts: Mapping[str, StreamContract] | None = None
) -> AnomalyStamp:
    """The record anomaly score alone, for runs without the drift engine (``check
    --no-drift``): every clean record still carries ``_dq.anomaly_score``. A stream
    only one of ``contracts`` declares is scored on the contract's fields.

    >>> from streamguard.config import Settings
    >>> build_anomaly_stamp(Settings(), "product").scorer.text_fields
    ('title', 'description', 'category', 'brand')
    """
    contract = (contracts or {}).get(stream)
    if contract is not None and not contract.shipped:
        fields = drift_fields(contract)
        return AnomalyStamp(
            stream,
            text_fields=fields.text,
            threshold=settings.anomaly_threshold,
            numeric_fields=fields.numeric,
            group_field=fields.group_field,
        )
    return AnomalyStamp(
        stream, text_fields=TEXT_FIELDS[stream], threshold=settings.anomaly_threshold
    )
