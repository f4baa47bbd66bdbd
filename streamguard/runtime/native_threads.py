"""Keep numpy's BLAS thread pool from spinning on the worker's cores.

numpy's OpenBLAS starts a thread per core at import and, after each call, leaves them
spinning in wait for the next one. The worker's BLAS calls are small (the embedding
thread's centroid products: a batch of 384-float vectors against a few centroids), so
a second thread gains nothing there, yet on the end-to-end benchmark
(``bench/bench_e2e.py``, 2 cores) that spinning thread used ~11 µs of CPU per event,
~17% of a core, taken from the broker, the recommender and the model process sharing
the machine. :func:`limit_blas_threads` caps OpenBLAS pools at one thread: the spinning
thread's CPU went to ~0 and the worker's own rate did not change (its event loop's
interpreter lock bounds it, not BLAS).

Only OpenBLAS pools are capped: torch (when the model runs in the worker process) keeps
its own intra-op threads. ``tests/unit/runtime/test_native_threads.py`` runs it in a fresh
interpreter, so the test process's own pools are left alone.
"""

from __future__ import annotations

import logging

from threadpoolctl import ThreadpoolController

__all__ = ["limit_blas_threads"]

log = logging.getLogger(__name__)


def limit_blas_threads(limit: int = 1) -> list[str]:
    """Cap every OpenBLAS thread pool loaded in this process at ``limit`` threads (for
    the process's lifetime); returns the paths of the libraries capped."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    pools = ThreadpoolController().select(internal_api="openblas")
    pools.limit(limits=limit)  # applied now; kept, as nothing restores it
    capped = [str(info["filepath"]) for info in pools.info()]
    log.debug("OpenBLAS pools capped at %d thread(s): %s", limit, capped or "none loaded")
    return capped
