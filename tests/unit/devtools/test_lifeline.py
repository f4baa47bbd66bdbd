"""Children spawned through the lifeline die with their parent process, not its threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from streamguard.devtools import lifeline
from streamguard.testing.processes import process_alive, wait_for

pytestmark = pytest.mark.skipif(not lifeline.supported(), reason="needs Linux prctl")

REPO = Path(__file__).resolve().parents[3]
ECHO = "import sys\nfor line in sys.stdin: print(line, end='', flush=True)"
#: The parent: two sleeping children, from its main thread and from a thread that ends.
PARENT = """
import subprocess, sys, threading
from streamguard.devtools import lifeline
argv = [sys.executable, "-c", "import time; time.sleep(120)"]
children = [lifeline.spawn(argv, stdin=subprocess.DEVNULL)]
thread = threading.Thread(target=lambda: children.append(lifeline.spawn(argv)))
thread.start()
thread.join()
print(*(child.pid for child in children), flush=True)
sys.stdin.read()
"""


def test_children_die_when_their_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None and parent.stdin is not None
    children = [int(pid) for pid in parent.stdout.readline().split()]
    try:
        assert len(children) == 2 and all(map(process_alive, children)), children
        parent.kill()
        parent.wait()
        wait_for(lambda: not any(map(process_alive, children)), 10, f"{children} to die")
    finally:
        parent.stdin.close()
        parent.stdout.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in children:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)  # an orphan this test made, by its PID


def test_a_child_outlives_the_thread_that_spawned_it() -> None:
    """PDEATHSIG fires when the forking *thread* ends: the spawner thread forks instead."""
    spawned: list[subprocess.Popen[bytes]] = []
    tids: list[int] = []

    def spawn() -> None:
        tids.append(threading.get_native_id())
        spawned.append(
            lifeline.spawn(
                [sys.executable, "-c", ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        )

    thread = threading.Thread(target=spawn)
    thread.start()
    thread.join()
    (child,) = spawned
    assert child.stdin is not None and child.stdout is not None
    try:
        # The kernel sends PDEATHSIG before an exiting thread's /proc entry disappears.
        wait_for(lambda: not Path(f"/proc/self/task/{tids[0]}").exists(), 10, "the thread")
        child.stdin.write(b"still there?\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"still there?\n"
    finally:
        child.stdin.close()
        assert child.wait(timeout=10) == 0
        child.stdout.close()


def test_spawn_reports_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        lifeline.spawn([str(tmp_path / "missing")])
    failures: list[BaseException] = []

    def spawn_in_thread() -> None:
        try:
            lifeline.spawn([str(tmp_path / "missing")])
        except OSError as exc:
            failures.append(exc)

    thread = threading.Thread(target=spawn_in_thread)
    thread.start()
    thread.join()
    assert len(failures) == 1, "the spawner thread hands the error to its caller"
