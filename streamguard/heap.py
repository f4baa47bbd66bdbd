"""Keep the cyclic garbage collector off the objects a process builds at startup.

CPython's collector re-examines every tracked container in the oldest generation on each
full collection. A worker's startup heap (Faust, aiokafka, pydantic, numpy, River; torch
in the embedding process) is hundreds of thousands of such objects that live as long as
the process: measured on the end-to-end benchmark, full collections of a worker took
~125 ms each and the collector ~16% of its CPU. :func:`freeze_startup_objects` moves them
to the permanent generation (:func:`gc.freeze`), so collections only walk what was
allocated since. Frozen objects are never collected: call it once, after startup, when
what is left is meant to live for the process's lifetime.

The worker calls it just before Faust starts, and each helper process once its model
or service is built (:func:`streamguard.child_process.accept_parent`). It has no doctest
example because freezing the test process's heap would change the tests around it;
``tests/unit/test_heap.py`` runs it in a fresh interpreter.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_objects"]

log = logging.getLogger(__name__)


def freeze_startup_objects() -> int:
    """Collect the startup garbage, then freeze what survives; returns the frozen count."""
    gc.collect()  # garbage frozen now would never be freed
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d startup objects out of the garbage collector's reach", frozen)
    return frozen
