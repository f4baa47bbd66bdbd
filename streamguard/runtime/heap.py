"""Tune CPython's cyclic garbage collector for a long-running batch worker.

Two costs, both measured on the end-to-end benchmark (``bench/bench_e2e.py``), where the
collector took 3.9 of the worker's 24 CPU-seconds:

- *Full collections walk the startup heap.* Faust, aiokafka, pydantic, numpy and River
  (torch in the embedding process) leave hundreds of thousands of container objects
  that live as long as the process; each full collection re-examined them (~125 ms a
  time). :func:`tune_garbage_collector` moves them to the permanent generation
  (:func:`gc.freeze`), so collections only walk what was allocated since.
- *Young collections walk every batch in flight.* The default threshold (700 net
  allocations) fires dozens of times within one 1,000-record batch, and each time the
  batch's records, still alive, are examined and promoted, then examined again in the
  older generations. A threshold above what a batch or two keep alive lets most of them
  die young without ever being examined: the worker used ~17% fewer CPU-seconds for
  the same events at 10,000 (20 s against 24 s at 700). Measured again once the rest
  of the worker had got faster (``streamguard_gc_pause_seconds_total`` over a 150k
  drain): 5.5-6.0 µs of collector time per event at 10,000, 2.6-2.9 at 50,000 (each
  young pause ~5 ms either way, as it examines the batches alive, not the threshold's
  worth), 1.7-1.8 at 200,000. 50,000 takes most of that, and keeps any cyclic garbage
  waiting for a young collection small.

Frozen objects are never collected: call it once, after startup, when what is left is
meant to live for the process's lifetime. The worker calls it just before Faust starts,
and each helper process once its model or service is built
(:func:`streamguard.runtime.child.accept_parent`). It has no doctest example because
changing the test process's collector would change the tests around it;
``tests/unit/runtime/test_heap.py`` runs it in a fresh interpreter.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

__all__ = ["YOUNG_COLLECTION_THRESHOLD", "CollectionTimer", "tune_garbage_collector"]

log = logging.getLogger(__name__)

#: Net container allocations between young collections (CPython's default is 700).
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_garbage_collector() -> int:
    """Collect the startup garbage, freeze what survives and raise the young threshold;
    returns the number of objects frozen."""
    gc.collect()  # garbage frozen now would never be freed
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
    frozen = gc.get_freeze_count()
    log.debug("froze %d startup objects out of the garbage collector's reach", frozen)
    return frozen


class CollectionTimer:
    """Counts the collector's runs and the seconds they pause the process, per generation.

    Installed as a :data:`gc.callbacks` hook: collections are serialized by the GIL, so a
    start and its stop always pair up. The hook only adds to plain lists (no locks, no
    metrics calls: a collection may start while any lock is held); the worker exports
    the totals once a second.

    >>> timer = CollectionTimer().install()
    >>> _ = gc.collect()
    >>> timer.collections[2] >= 1 and timer.seconds[2] > 0.0
    True
    >>> timer.remove()
    """

    def __init__(self) -> None:
        #: Collections so far, by generation (0, 1, 2).
        self.collections = [0, 0, 0]
        #: Seconds spent in them, by generation.
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def install(self) -> CollectionTimer:
        """Start counting (idempotent); returns the timer."""
        if self._hook not in gc.callbacks:
            gc.callbacks.append(self._hook)
        return self

    def remove(self) -> None:
        """Stop counting (idempotent)."""
        while self._hook in gc.callbacks:
            gc.callbacks.remove(self._hook)

    def _hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started
