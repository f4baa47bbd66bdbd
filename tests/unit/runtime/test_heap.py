"""tune_garbage_collector, in a fresh interpreter (tuning pytest's own collector would
change the tests around it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent(
    """
    import gc, weakref
    from streamguard.runtime.heap import YOUNG_COLLECTION_THRESHOLD, tune_garbage_collector

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a

    garbage = cycle()
    garbage_ref = weakref.ref(garbage)
    del garbage                  # unreachable, but only the collector can free a cycle
    kept = cycle()               # reachable: lives on, frozen
    tracked_before = len(gc.get_objects())
    frozen = tune_garbage_collector()
    print(garbage_ref() is None)                        # startup garbage freed, not frozen
    print(frozen == gc.get_freeze_count() > 1000)       # the startup heap is frozen
    print(len(gc.get_objects()) < tracked_before // 10) # collections no longer walk it
    later = cycle()
    later_ref = weakref.ref(later)
    del later
    gc.collect()
    print(later_ref() is None and kept.other.other is kept)  # new cycles still collected
    print(gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD > 700)
    """
)


def test_tuning_collects_startup_garbage_then_keeps_the_collector_off_the_rest() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 5
