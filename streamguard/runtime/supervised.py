"""The parent's side of a helper process: start it, talk to it, end it, back off.

:mod:`streamguard.runtime.child` starts and stops a helper interpreter and runs the
child's half of the handshake; :class:`SupervisedChild` is what the parent keeps: the
running process and our end of the socket pair, the children started so far, and the
back-off before the next start after a failure (doubling up to five minutes, reset by
:meth:`SupervisedChild.started`). It raises nothing of its own: callers (the embedding
process, the recommender process) word their errors and count their metrics.

Examples
--------
>>> child = SupervisedChild("streamguard.runtime.child", "echo_child", restart_backoff_s=1.0)
>>> conn = child.spawn()
>>> child.exchange(conn, "ping", 10.0)
'ping'
>>> child.starts, child.pid is not None
(1, True)
>>> child.fail()  # a failure: end the child, wait before the next start
0
>>> child.pid, 0 < child.wait_s() <= 1.0, child.failures
(None, True, 1)
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from subprocess import Popen
from typing import Any

from streamguard.runtime.child import start_child, stop_child

__all__ = ["SupervisedChild"]


class SupervisedChild:
    """One helper process running ``module.function(fd)``, restarted after failures.

    Not thread-safe: its owner calls it from one thread at a time (under a lock, or from
    the one thread that owns the link).
    """

    MAX_BACKOFF_S = 300.0

    def __init__(self, module: str, function: str, *, restart_backoff_s: float) -> None:
        self.module = module
        self.function = function
        self.restart_backoff_s = restart_backoff_s
        self.process: Popen[bytes] | None = None
        #: Our end of the socket pair; None when no child runs.
        self.conn: Connection | None = None
        #: Children started so far (a restart adds one).
        self.starts = 0
        #: Failures so far (each ended a child, or kept one from starting).
        self.failures = 0
        self.retry_at = 0.0
        self._backoff = restart_backoff_s

    @property
    def pid(self) -> int | None:
        """The child's process id, None when none runs."""
        process = self.process
        return process.pid if process is not None and self.conn is not None else None

    def wait_s(self) -> float:
        """Seconds until a child may be started again (<= 0: now)."""
        return self.retry_at - time.monotonic()

    def spawn(self) -> Connection:
        """Start a child (the caller then sends it what it builds from); our end."""
        process, conn = start_child(self.module, self.function)
        self.starts += 1
        self.process, self.conn = process, conn
        return conn

    def exchange(
        self, conn: Connection, message: Any, timeout: float, *, silence: str = "no answer"
    ) -> Any:
        """Send ``message`` (bytes go as they are) and return the child's answer; raises
        ``EOFError``/``OSError`` if the child is gone, ``TimeoutError`` (``"<silence>
        within <timeout> s"``) if it says nothing for ``timeout`` s."""
        if isinstance(message, bytes):
            conn.send_bytes(message)
        else:
            conn.send(message)
        if not conn.poll(timeout):
            raise TimeoutError(f"{silence} within {timeout:g} s")
        return conn.recv()

    def started(self) -> None:
        """The child is ready: the next failure waits the initial back-off again."""
        self._backoff = self.restart_backoff_s

    def fail(self) -> int | None:
        """End the child after a failure and schedule the next start; its exit code."""
        code = self.end()
        self.failures += 1
        self.retry_at = time.monotonic() + self._backoff
        self._backoff = min(self.MAX_BACKOFF_S, max(self._backoff * 2, 1e-3))
        return code

    def end(self, *, ask: bool = False, timeout: float = 2.0) -> int | None:
        """Stop and reap the child (asked to end first when ``ask``); its exit code."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if ask and conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass  # already gone
        return stop_child(process, conn, timeout)
