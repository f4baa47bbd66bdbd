"""Processes in tests and chaos scripts: who is a child of whom, when are they really
gone, is a port free, and polling with a deadline instead of sleeping.

Linux-only (reads /proc). Shared by the integration tests and the unit tests that kill
processes on purpose.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "child_pids",
    "children_listed",
    "descendant_pids",
    "port_is_free",
    "process_alive",
    "wait_for",
]


def children_listed() -> bool:
    """Whether this kernel lists a thread's children (/proc/PID/task/TID/children)."""
    return Path(f"/proc/self/task/{os.getpid()}/children").exists()


def child_pids(pid: int) -> list[int]:
    """Children of ``pid`` forked by any of its threads (from /proc, see
    :func:`children_listed`)."""
    children: list[int] = []
    with contextlib.suppress(OSError):  # the process went away
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # the thread went away
                children += [int(child) for child in (task / "children").read_text().split()]
    return children


def descendant_pids(pid: int) -> list[int]:
    """Children, grandchildren, ... of ``pid`` right now."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        if parent != pid and not process_alive(parent):
            continue
        children = child_pids(parent)
        found += children
        pending += children
    return found


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (PID 1 may never reap orphans here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (bound as the broker binds: SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 20 ms until it holds; ``TimeoutError`` naming ``what``
    after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.02)  # a polling interval under a deadline, not synchronisation
