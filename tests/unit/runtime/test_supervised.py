"""SupervisedChild: spawn, exchange, failure back-off (doubling, capped, reset on start)."""

from __future__ import annotations

import pytest

from streamguard.runtime.supervised import SupervisedChild

ECHO = ("streamguard.runtime.child", "echo_child")


def test_back_off_doubles_up_to_the_cap_and_resets_when_started() -> None:
    child = SupervisedChild(*ECHO, restart_backoff_s=100.0)
    waits = []
    for _ in range(4):
        child.fail()  # no child running: only the schedule moves
        waits.append(round(child.wait_s(), -1))
    assert waits == [100.0, 200.0, 300.0, 300.0]
    assert child.failures == 4 and child.starts == 0
    child.started()
    child.fail()
    assert round(child.wait_s(), -1) == 100.0


def test_a_zero_back_off_still_grows_from_a_millisecond() -> None:
    child = SupervisedChild(*ECHO, restart_backoff_s=0.0)
    child.fail()
    assert child.wait_s() <= 0.0
    child.fail()
    assert 0.0 < child.wait_s() <= 1e-3


def test_a_child_that_dies_fails_the_exchange() -> None:
    # Not a child main (it raises in the child at once, which exits): EOF here.
    child = SupervisedChild(
        "streamguard.runtime.supervised", "SupervisedChild", restart_backoff_s=0.0
    )
    conn = child.spawn()
    with pytest.raises((EOFError, OSError)):
        child.exchange(conn, "hello", 10.0)
    assert child.fail() not in (None, 0)
    assert child.pid is None and child.starts == 1


def test_end_asks_the_child_first() -> None:
    child = SupervisedChild(*ECHO, restart_backoff_s=1.0)
    conn = child.spawn()
    assert child.exchange(conn, b"\x80\x04K\x01.", 10.0) == 1  # bytes go as they are
    assert child.end(ask=True, timeout=5.0) == 0
    assert child.pid is None and child.failures == 0
