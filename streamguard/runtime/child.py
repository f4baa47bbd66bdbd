"""Start and stop a helper interpreter that talks to this one over a socket pair.

The worker moves CPU-bound Python (the embedding model, the recommender) into helper
processes so that it takes a core of its own instead of turns with the event loop under
the GIL. A helper is a fresh interpreter (``python -c``): never a ``fork`` of a process
that runs threads, and not ``multiprocessing``'s spawn, which re-runs the caller's main
module. It imports ``streamguard`` from where this process did, so a checkout works.

Examples
--------
>>> process, conn = start_child("streamguard.runtime.child", "echo_child")
>>> conn.send("ping")
>>> conn.recv()
'ping'
>>> stop_child(process, conn)
0
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from streamguard.runtime.heap import tune_garbage_collector

__all__ = ["accept_parent", "echo_child", "messages", "start_child", "stop_child"]

State = TypeVar("State")

#: The directory that holds the ``streamguard`` package, for the child's import path.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_CHILD_MAIN = (
    "import sys, importlib; "
    "getattr(importlib.import_module(sys.argv[1]), sys.argv[2])(int(sys.argv[3]))"
)


def start_child(module: str, function: str) -> tuple[subprocess.Popen[bytes], Connection]:
    """Run ``module.function(fd)`` in a new interpreter; the process and our end.

    ``fd`` is the child's end of the socket pair (wrap it in
    :class:`multiprocessing.connection.Connection`). This process keeps no copy of it,
    so reading our end raises ``EOFError`` once the child exits.
    """
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
    with ours, theirs:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-c", _CHILD_MAIN, module, function, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        return process, Connection(os.dup(ours.fileno()))


def stop_child(
    process: subprocess.Popen[bytes] | None, conn: Connection | None, timeout: float = 2.0
) -> int | None:
    """Close our end, then wait for the child (terminate, then kill); its exit code."""
    if conn is not None:
        conn.close()
    if process is None:
        return None
    for stop in (None, process.terminate, process.kill):
        if stop is not None:
            stop()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the child ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def accept_parent(
    fd: int, setup: Callable[[Any], tuple[State, Any]]
) -> tuple[Connection, State] | None:
    """The child's half of the handshake, for its main.

    Receives the parent's first message, builds ``(state, info) = setup(message)`` and
    answers ``("ready", info)``; if ``setup`` raises anything, answers
    ``("failed", why)`` and returns None (the child should end).
    """
    _ignore_interrupts()
    conn = Connection(fd)
    try:
        state, info = setup(conn.recv())
        conn.send(("ready", info))
    except BaseException as exc:  # report why, whatever it is, then end
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return None
    tune_garbage_collector()  # the model / service lives as long as the child
    return conn, state


def messages(conn: Connection) -> Iterator[Any]:
    """The parent's messages, in order, until it sends ``None`` or goes away."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        yield message


def echo_child(fd: int) -> None:
    """A child that answers every message with itself until EOF (for tests and docs)."""
    _ignore_interrupts()
    conn = Connection(fd)
    for message in messages(conn):
        conn.send(message)
