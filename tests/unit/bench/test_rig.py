"""bench/rig.py's CPU accounting, which bench_e2e's figures rest on."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[3] / "bench"))  # after everything else

from rig import cpu_by_role, cpu_seconds  # noqa: E402

from streamguard.runtime.child import start_child, stop_child  # noqa: E402


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds  # process CPU: the main thread only waits
    while time.process_time() < deadline:
        pass


def test_cpu_by_role_names_children_and_adds_up_to_cpu_seconds() -> None:
    process, conn = start_child("streamguard.runtime.child", "echo_child")
    try:
        conn.send("ping")
        assert conn.recv() == "ping"  # the child has started and run its module
        worker = threading.Thread(target=_burn, args=(0.3,))
        before = cpu_by_role(os.getpid())
        worker.start()
        worker.join()  # an exited thread: its CPU must still be counted
        roles = cpu_by_role(os.getpid())
        total = cpu_seconds(os.getpid())
    finally:
        stop_child(process, conn)
    assert "streamguard.runtime.child" in roles  # named by the module it runs
    assert roles["other threads"] - before["other threads"] >= 0.2
    assert abs(sum(roles.values()) - total) < 0.05  # read a few ticks apart
