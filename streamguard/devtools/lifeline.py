"""Child processes that die with this process, even when it is killed with SIGKILL.

:func:`spawn` is :class:`subprocess.Popen` plus, on Linux, ``prctl(PR_SET_PDEATHSIG)``
in the child before ``exec``: the kernel signals the child (SIGKILL by default) when its
parent goes away, whatever the way (``kill -9``, a crash, the OOM killer), so an embedded
broker or a demo worker cannot outlive ``streamguard broker`` / ``streamguard demo`` and
keep holding its port. A graceful stop is unchanged: the parent still stops its children
in order (SIGTERM, wait) before it exits.

The kernel's "parent" is the *thread* that forked, not the process: a child forked
from a worker thread (``asyncio.to_thread``, a thread pool, a short-lived thread) would
be killed as soon as that thread ends. So :func:`spawn` forks from the main thread when
called there (it lives as long as the process), and otherwise hands the fork to one
long-lived daemon thread, ``streamguard-spawner``, which lives until the interpreter
exits. Either way the child dies with the process, never with a thread.

A child whose parent died between ``fork`` and ``prctl`` (a window the kernel does not
cover) sees a different ``getppid()`` and exits at once instead of running unwatched.
The ``preexec_fn`` that does this only calls the ``prctl`` function resolved beforehand
(ctypes) and ``os.getppid``: no locks another thread could hold at ``fork`` time.
Session and process group are the caller's choice (``start_new_session``).
Elsewhere than Linux (no ``prctl``) :func:`spawn` is a plain ``Popen``.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

__all__ = ["spawn", "supported"]

_PR_SET_PDEATHSIG = 1
_File = int | IO[Any] | None


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


#: Resolved once, in the parent: the child only calls it between fork and exec.
_PRCTL = _load_prctl()


def supported() -> bool:
    """True where children can be tied to this process (Linux ``prctl`` available)."""
    return _PRCTL is not None


def spawn(
    argv: Sequence[str],
    *,
    death_signal: int = signal.SIGKILL,
    stdin: _File = None,
    stdout: _File = None,
    stderr: _File = None,
    env: Mapping[str, str] | None = None,
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """``Popen(argv, ...)`` whose child gets ``death_signal`` when this process dies.

    Safe to call from any thread (see the module docstring). Raises ``OSError`` when
    ``argv[0]`` cannot be run, as ``Popen`` does.
    """

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - the callers pass fixed argv, no shell
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            start_new_session=start_new_session,
            preexec_fn=_die_with(os.getpid(), death_signal) if _PRCTL is not None else None,
        )

    if _PRCTL is None or threading.current_thread() is threading.main_thread():
        return launch()
    return _SPAWNER.run(launch)


def _die_with(parent_pid: int, death_signal: int) -> Callable[[], None]:
    """The child's last step before ``exec``: ask for ``death_signal`` when orphaned."""
    prctl = _PRCTL
    assert prctl is not None

    def preexec() -> None:
        # Runs in the forked child: no locks, no logging, nothing that allocates much.
        if prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class _Spawner:
    """One daemon thread that runs fork requests, so children outlive caller threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def run(self, launch: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        future: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        with self._lock:
            if self._pid != os.getpid():  # a forked copy of this process: start afresh
                self._requests, self._thread, self._pid = queue.SimpleQueue(), None, os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, args=(self._requests,), name="streamguard-spawner"
                )
                self._thread.daemon = True  # lives until the interpreter exits
                self._thread.start()
            self._requests.put((launch, future))
        return future.result()

    @staticmethod
    def _serve(
        requests: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        while True:
            launch, future = requests.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = launch()
            except BaseException as exc:  # handed to the caller, who raises it
                future.set_exception(exc)
            else:
                future.set_result(result)


_SPAWNER = _Spawner()
