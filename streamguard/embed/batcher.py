"""The micro-batcher: texts from many records, one forward pass, never blocking the caller.

``submit`` appends to a bounded queue and returns at once (a few hundred nanoseconds).
A background thread takes up to ``batch_size`` texts whenever that many are waiting or
``max_wait_ms`` has passed (on a GPU, up to ``gpu_batch_size`` of those waiting: a
backlog goes through in big forward passes, where the device is fast), looks each up in
the cache, embeds the distinct misses in one forward pass, caches them and hands
``(items, vectors)`` to ``on_batch`` (in that thread).

Under overload it samples instead of stalling: when the queue stays above half full the
acceptance rate halves (down to ``min_sampling_rate``); when it drains the rate recovers.
Acceptance is deterministic (a credit counter), so a rate of 0.25 keeps every 4th text.
:attr:`sampling_rate` is exported as a metric.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> seen = []
>>> batcher = MicroBatcher(HashingEmbedder(dim=16), on_batch=lambda items, v: seen.extend(items),
...                        cache=EmbeddingCache(), batch_size=8, max_wait_ms=5)
>>> batcher.start()
>>> all(batcher.submit(f"text {i % 3}", i) for i in range(20))
True
>>> batcher.flush(timeout=5.0), len(seen), batcher.stats()["embedded"]
(True, 20, 3)
>>> batcher.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from streamguard.embed.base import Embedder, Vectors
from streamguard.embed.cache import EmbeddingCache, embed_items

__all__ = ["BatchCallback", "Item", "MicroBatcher", "embed_items"]

log = logging.getLogger(__name__)

Item = tuple[str, Any]
BatchCallback = Callable[[list[Item], Vectors], None]


class MicroBatcher:
    """Background embedding of submitted texts (see the module docstring).

    Parameters
    ----------
    embedder
        The model (or the hashing fake).
    on_batch
        Called in the batcher thread with the items and their vectors (one row each).
    cache
        Optional text -> vector cache; repeated texts skip the model.
    batch_size
        Most texts per forward pass.
    max_wait_ms
        Most time a text waits for its batch to fill.
    max_queue
        Queue bound; beyond it texts are dropped (and counted).
    min_sampling_rate
        Floor of the acceptance rate under overload.
    gpu_batch_size
        When the embedder runs on a GPU (its ``device`` is not ``cpu``), most texts one
        batch takes from the queue (at least ``batch_size``, at most ``max_queue``): the
        thread still wakes at ``batch_size`` texts or ``max_wait_ms``, so a light load
        keeps its latency, and batches grow with the backlog.
    cpu_share
        On CPU, the most of its time the thread may spend in batches: after a batch of
        ``t`` seconds it rests ``t * (1 - cpu_share) / cpu_share``, leaving the cores (and
        the GIL) to the pipeline; texts arriving meanwhile queue, and sampling adapts as
        under any overload. Not applied when the embedder runs on a GPU.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        on_batch: BatchCallback,
        cache: EmbeddingCache | None = None,
        batch_size: int = 256,
        max_wait_ms: float = 20.0,
        max_queue: int = 10_000,
        min_sampling_rate: float = 0.01,
        cpu_share: float = 1.0,
        gpu_batch_size: int = 4096,
    ) -> None:
        if batch_size < 1 or max_queue < batch_size:
            raise ValueError("need batch_size >= 1 and max_queue >= batch_size")
        if not 0 < cpu_share <= 1:
            raise ValueError(f"cpu_share must be in (0, 1], got {cpu_share}")
        if max_wait_ms <= 0 or not 0 < min_sampling_rate <= 1:
            raise ValueError("need max_wait_ms > 0 and 0 < min_sampling_rate <= 1")
        self.embedder = embedder
        self.on_batch = on_batch
        self.cache = cache
        self.batch_size = batch_size
        self.max_wait_ms = max_wait_ms
        self.max_queue = max_queue
        self.min_sampling_rate = min_sampling_rate
        self.cpu_share = cpu_share
        self.gpu_batch_size = gpu_batch_size
        #: Seconds the thread rested to keep within ``cpu_share``.
        self.rested_s = 0.0
        self._halt = threading.Event()
        self._queue: deque[Item] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._rate = 1.0
        self._credit = 0.0
        self.offered = 0
        self.sampled_out = 0
        self.dropped = 0
        self.embedded = 0
        self.processed = 0
        self.batches = 0
        self.errors = 0
        self.last_batch_size = 0
        self.last_batch_seconds = 0.0
        #: (texts, seconds) of recent batches, drained by the metrics export.
        self.recent_batches: deque[tuple[int, float]] = deque(maxlen=1000)

    @property
    def sampling_rate(self) -> float:
        """Share of submitted texts currently accepted (1.0 when keeping up)."""
        return self._rate

    @property
    def queue_depth(self) -> int:
        """Texts waiting for a batch."""
        return len(self._queue)

    @property
    def take_size(self) -> int:
        """Most texts the next batch takes: ``batch_size``, more on a GPU (see above)."""
        if getattr(self.embedder, "device", "cpu") == "cpu":
            return self.batch_size
        return max(self.batch_size, min(self.gpu_batch_size, self.max_queue))

    def submit(self, text: str, tag: Any = None) -> bool:
        """Queue ``text``; False when it was sampled out or the queue is full. Never blocks."""
        self.offered += 1
        if self._rate < 1.0:
            self._credit += self._rate
            if self._credit < 1.0:
                self.sampled_out += 1
                return False
            self._credit -= 1.0
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            # Do not wait for the (slow) batch to finish to start sampling.
            if self.dropped % max(1, self.max_queue // 10) == 0:
                self._rate = max(self.min_sampling_rate, self._rate * 0.5)
            return False
        self._queue.append((text, tag))
        if len(self._queue) >= self.batch_size:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the batcher thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop = False
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name="streamguard-embedder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Process what is queued (within ``timeout``) and end the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop = True
        self._halt.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was processed; False on timeout."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._done:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._wake.set()
                self._done.wait(min(left, 0.05))
        return True

    def stats(self) -> dict[str, Any]:
        """Counters for metrics and benchmarks."""
        return {
            "offered": self.offered,
            "sampled_out": self.sampled_out,
            "dropped": self.dropped,
            "processed": self.processed,
            "embedded": self.embedded,
            "batches": self.batches,
            "errors": self.errors,
            "queue_depth": self.queue_depth,
            "sampling_rate": self._rate,
        }

    def _run(self) -> None:
        wait_s = self.max_wait_ms / 1000.0
        while not self._stop or self._queue:
            if len(self._queue) < self.batch_size:
                self._wake.wait(wait_s)
            self._wake.clear()
            if not self._queue:
                with self._done:
                    self._done.notify_all()
                continue
            with self._done:
                self._busy = True
            take = min(self.take_size, len(self._queue))
            items = [self._queue.popleft() for _ in range(take)]
            self._process(items)
            self._adapt()
            with self._done:
                self._busy = False
                self._done.notify_all()
            self._rest()

    def _rest(self) -> None:
        """Keep the thread within ``cpu_share`` of its time (CPU models only)."""
        if self.cpu_share >= 1.0 or self._stop:
            return
        if getattr(self.embedder, "device", "cpu") != "cpu":
            return  # a GPU does the work: resting would only idle it
        pause = self.last_batch_seconds * (1.0 - self.cpu_share) / self.cpu_share
        self.rested_s += pause
        self._halt.wait(pause)

    def _process(self, items: list[Item]) -> None:
        started = time.perf_counter()
        try:
            vectors, embedded = embed_items(
                self.embedder, self.cache, [text for text, _ in items], self.take_size
            )
            self.embedded += embedded
            self.on_batch(items, vectors)
        except Exception:  # a bad batch must not kill the thread: log it, count it
            self.errors += 1
            log.exception("embedding batch of %d texts failed", len(items))
        self.processed += len(items)
        self.batches += 1
        self.last_batch_size = len(items)
        self.last_batch_seconds = time.perf_counter() - started
        self.recent_batches.append((len(items), self.last_batch_seconds))

    def _adapt(self) -> None:
        depth = len(self._queue)
        if depth > self.max_queue // 2:
            self._rate = max(self.min_sampling_rate, self._rate * 0.5)
        elif depth < self.batch_size and self._rate < 1.0:
            self._rate = min(1.0, self._rate * 1.25)
