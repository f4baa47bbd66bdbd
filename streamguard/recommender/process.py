"""The worker's recommender, run in a child process.

Learning costs ~30 µs per behaviour event in Python: in the worker's process it took
~18% of the event loop that validates records (py-spy, 12-03), under the same GIL. In
its own process it takes a core of its own. The worker hands each acknowledged batch's
clean events over a socket pair (four fields an event, a few µs) and asks once a second
for the recommendation records that are due; the child answers them encoded, ready to
send, with its metric families, which :class:`RecommenderProcess` exposes in the
worker's registry as if they were its own. Snapshots are written by the child too, so
a large model never pauses the worker while it is dumped.

One thread of the worker, the *link*, owns the connection: :meth:`learn` and the
product calls only queue a message (no I/O on the event loop), and requests return
:class:`concurrent.futures.Future` objects (``asyncio.wrap_future`` them on a loop).
Messages are handled in order, so a due list reflects everything learned before it.

Failures are contained: the recommender is not on the quality path. A child that dies
or stays silent is ended and started again from the last snapshot after a back-off
(doubling to five minutes); events learned since that snapshot are lost, and so are
records handed over while no child runs, and batches to learn while more than
``max_queued`` messages wait. Both are counted (:class:`RecommenderProcessMetrics`) and logged.

Examples
--------
>>> process = RecommenderProcess(RecommenderSpec(min_interval_s=0.0))
>>> process.learn([{"user_id": "ann", "product_id": "tent", "event_type": "view"},
...                {"user_id": "bob", "product_id": "tent", "event_type": "view"},
...                {"user_id": "bob", "product_id": "stove", "event_type": "view"}])
>>> due = process.due_records().result(timeout=60)
>>> sorted(key for key, _ in due)
[b'ann', b'bob']
>>> process.close()
>>> process.pid is None
True
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from streamguard.observability.mirror import MirroredFamilies, collect_families
from streamguard.observability.recommender import RecommenderMetrics, RecommenderProcessMetrics
from streamguard.observability.registry import CollectorRegistry
from streamguard.recommender.models import DEFAULT_ALGORITHM, choose_model, new_model
from streamguard.recommender.params import RecommenderConfig, SequenceConfig
from streamguard.recommender.refresh import RefreshPolicy
from streamguard.recommender.service import RecommenderService
from streamguard.recommender.snapshot import read_snapshot, write_atomic
from streamguard.runtime.child import accept_parent, messages, stop_child
from streamguard.runtime.native_threads import limit_blas_threads
from streamguard.runtime.supervised import SupervisedChild

__all__ = ["RecommenderProcess", "RecommenderProcessError", "RecommenderSpec", "serve_child"]

log = logging.getLogger(__name__)

#: What the model reads from a behaviour record; only these fields cross to the child,
#: as a tuple in this order (smaller to pickle than a dict, and cheaper to build).
_LEARNED_FIELDS = ("user_id", "product_id", "event_type", "ts")
EncodedRecord = tuple[bytes, bytes]
"""A recommendation record ready to send: ``(key = user_id, value = JSON)``."""


class RecommenderProcessError(RuntimeError):
    """The recommender process is down, hung, or failed a request."""


@dataclass(frozen=True)
class RecommenderSpec:
    """How the child builds its :class:`RecommenderService` (picklable)."""

    snapshot_path: Path | None = None
    """Restore the model from here at start (a missing file starts an empty model)."""
    min_interval_s: float = 5.0
    k: int = 10
    algorithm: str = DEFAULT_ALGORITHM
    """``auto``, ``item-cooc`` or ``item-seq`` (:mod:`~streamguard.recommender.models`).
    ``auto`` restores a snapshot of either and starts ``item-seq`` without one; a named
    algorithm does not restore a snapshot of the other: the child starts an empty model
    (and logs it)."""
    config: RecommenderConfig | SequenceConfig | None = None
    """The algorithm's knobs (None: its defaults)."""
    content: bool = True
    """Give a model that takes content (``content`` attribute) a
    :class:`~streamguard.recommender.content.ContentIndex` of the catalogue's texts,
    embedded at most ``content_batch`` at a time before each due list."""
    content_batch: int = 64
    embedder: str = "hashing"
    """The content index's embedder: ``hashing`` or ``Settings.model`` (CPU, one thread)."""
    embedder_backend: str = "auto"
    onnx_cache_dir: str | None = None

    def __post_init__(self) -> None:
        new_model(self.algorithm, self.config)  # an unknown algorithm or config fails here

    def build(self) -> RecommenderService:
        """The service, its model restored from the snapshot when there is one of the
        algorithm (:func:`~streamguard.recommender.models.choose_model`)."""
        restored = None if self.snapshot_path is None else read_snapshot(self.snapshot_path)
        model = choose_model(
            self.algorithm, restored, self.config, source=f"the snapshot at {self.snapshot_path}"
        )
        return RecommenderService(
            model,
            RefreshPolicy(min_interval_s=self.min_interval_s),
            k=self.k,
            metrics=RecommenderMetrics(),
        )


def _families(service: RecommenderService) -> list[Any]:
    assert service.metrics is not None
    return collect_families(service.metrics.registry)


def _answer(service: RecommenderService, kind: str, argument: Any) -> Any:
    if kind == "due":
        return [
            (str(r["user_id"]).encode(), orjson.dumps(r)) for r in service.due_records(argument)
        ]
    if kind == "snapshot":
        size = write_atomic(service.snapshot(), Path(argument))
        if service.content is not None:  # its texts: the vectors are computed again
            from streamguard.recommender.content_state import content_path, save_texts

            save_texts(service.content, content_path(Path(argument)))
        assert service.metrics is not None
        service.metrics.snapshot_bytes.set(size)
        service.observe_size()
        return size
    raise ValueError(f"unknown request {kind!r}")


def _build_service(spec: RecommenderSpec) -> tuple[RecommenderService, tuple[str, int]]:
    service = spec.build()
    if spec.content and hasattr(service.model, "content"):  # load no embedder otherwise
        # Imported here: a model without content never loads numpy or an embedder.
        from streamguard.recommender.content import ContentIndex
        from streamguard.recommender.content_embedder import content_embedder
        from streamguard.recommender.content_state import content_path, restore_texts

        limit_blas_threads()  # the index's matrix products: one core, no spinning pool
        embedder = content_embedder(spec.embedder, spec.embedder_backend, spec.onnx_cache_dir)
        index = ContentIndex(embedder)
        if service.use_content(index, spec.content_batch) and spec.snapshot_path is not None:
            restore_texts(index, content_path(spec.snapshot_path))  # embedded in batches
    return service, (service.model.version, service.model.events_learned)


def serve_child(fd: int) -> None:
    """The child's main: build the service from the spec the parent sends, then handle
    ``(kind, argument, wants_answer)`` messages in order until ``None`` or EOF."""
    session = accept_parent(fd, _build_service)
    if session is None:
        return
    conn, service = session
    for kind, argument, wants_answer in messages(conn):
        try:
            if kind == "learn":
                for row in argument:
                    service.learn(dict(zip(_LEARNED_FIELDS, row, strict=True)))
            elif kind == "product":
                service.update_product(argument)
            elif kind == "remove":
                service.remove_product(argument)
            else:
                conn.send(("ok", (_answer(service, kind, argument), _families(service))))
        except Exception as exc:  # one bad message: say so, keep serving
            if wants_answer:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            else:
                log.exception("recommender: a %s message failed", kind)


_Message = tuple[str, Any, bool]
_Item = tuple[_Message, "Future[Any] | None"]


class RecommenderProcess:
    """Runs a :class:`RecommenderService` built from ``spec`` in a child process.

    Parameters
    ----------
    spec
        What the child builds (snapshot to restore, refresh interval, list length).
    registry
        Where the child's metric families and this object's own
        (:class:`RecommenderProcessMetrics`) are exposed; a fresh one when None.
    request_timeout_s
        Most seconds the child may take to answer a request (it answers after handling
        every message queued before it) before it is presumed hung and restarted.
    restart_backoff_s
        Wait before starting a child again after a failure; doubles with each further
        failure, up to five minutes, and resets once a child has started.
    max_queued
        Messages (one per batch learned) that may wait for the link; a batch to learn
        beyond that is dropped and counted. Catalogue changes are never dropped for it.
    """

    def __init__(
        self,
        spec: RecommenderSpec,
        *,
        registry: CollectorRegistry | None = None,
        request_timeout_s: float = 60.0,
        restart_backoff_s: float = 5.0,
        max_queued: int = 1_000,
    ) -> None:
        if request_timeout_s <= 0 or restart_backoff_s < 0 or max_queued < 1:
            raise ValueError("request_timeout_s and max_queued must be > 0, back-off >= 0")
        self.spec = spec
        self.registry = registry or CollectorRegistry()
        self.request_timeout_s = request_timeout_s
        self.restart_backoff_s = restart_backoff_s
        self.max_queued = max_queued
        self.metrics = RecommenderProcessMetrics(self.registry)
        # Declared before the child says anything (panels show 0, not "no data").
        self._mirror = MirroredFamilies(collect_families(RecommenderMetrics().registry))
        self.registry.register(self._mirror)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._child = SupervisedChild(__name__, "serve_child", restart_backoff_s=restart_backoff_s)
        self._closed = False
        #: ``(model version, events learned)`` of the model the last child restored.
        self.restored: tuple[str, int] | None = None
        self._link = threading.Thread(target=self._run_link, name="recommender-link", daemon=True)
        self._link.start()

    # --- the worker's side -------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The child's process id, None when none runs."""
        return self._child.pid

    @property
    def starts(self) -> int:
        """Children started so far (a restart adds one)."""
        return self._child.starts

    def learn(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Queue clean behaviour records to learn from (returns at once)."""
        slim = [
            (r.get("user_id"), r.get("product_id"), r.get("event_type"), r.get("ts"))
            for r in records
        ]
        if slim:
            self._put(("learn", slim, False), len(slim))

    def update_product(self, record: Mapping[str, Any]) -> None:
        """Queue a clean product record (upsert, delete, stock change)."""
        self._put(("product", dict(record), False), 0)

    def remove_product(self, product_id: str) -> None:
        """Queue hiding a product (deleted, or its latest record was quarantined)."""
        self._put(("remove", product_id, False), 0)

    def due_records(self, limit: int | None = None) -> Future[list[EncodedRecord]]:
        """The recommendation records due now, encoded ``(key, value)``, once the child
        has handled everything queued before."""
        return self._request("due", limit)

    def snapshot(self, path: Path) -> Future[int]:
        """Have the child write its model to ``path`` (atomically); the size written."""
        return self._request("snapshot", str(path))

    def close(self, timeout: float = 10.0) -> None:
        """Let the child finish what is queued, then end it and the link."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._link.join(timeout)
        process, conn = self._child.process, self._child.conn
        if process is not None and self._link.is_alive():  # stuck: end the child ourselves
            stop_child(process, conn)

    def _request(self, kind: str, argument: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(RecommenderProcessError("the recommender process is closed"))
        else:
            self._queue.put(((kind, argument, True), future))
        return future

    def _put(self, message: _Message, events: int) -> None:
        if self._closed:
            raise RecommenderProcessError("the recommender process is closed")
        if events and self._queue.qsize() >= self.max_queued:
            self._lose(events, "the hand-over queue is full")
            return
        self._queue.put((message, None))

    def _lose(self, records: int, why: str) -> None:
        self.metrics.lost_events.inc(records)
        log.warning("recommender: %d records not applied (%s)", records, why)

    # --- the link thread ---------------------------------------------------------------
    def _run_link(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._stop(ask=True)
                return
            message, future = item
            try:
                answer = self._exchange(message, future is not None)
            except RecommenderProcessError as exc:
                if future is not None:
                    _settle(future, error=exc)
                else:
                    self._lose(len(message[1]) if message[0] == "learn" else 1, str(exc))
                continue
            if future is not None:
                _settle(future, answer=answer)

    def _exchange(self, message: _Message, wants_answer: bool) -> Any:
        conn = self._connected()
        kind = message[0]
        try:
            if not wants_answer:
                conn.send(message)
                return None
            status, payload = self._child.exchange(conn, message, self.request_timeout_s)
        except (EOFError, OSError, TimeoutError) as exc:
            code = self._child.fail()
            self.metrics.failures.inc()
            log.error(
                "recommender process failed on a %s message (%s: %s; exit code %s); it "
                "restarts from the last snapshot in %.0f s at the earliest",
                kind,
                type(exc).__name__,
                exc,
                code,
                self._child.wait_s(),
            )
            raise RecommenderProcessError(f"the recommender process failed: {exc}") from exc
        if status != "ok":
            raise RecommenderProcessError(f"the recommender failed a {kind} request: {payload}")
        result, self._mirror.families = payload
        return result

    def _connected(self) -> Connection:
        child = self._child
        if child.conn is not None:
            return child.conn
        wait = child.wait_s()
        if wait > 0:
            raise RecommenderProcessError(f"the recommender process restarts in {wait:.0f} s")
        started = time.monotonic()
        conn = child.spawn()
        pid = child.pid
        try:
            status, payload = child.exchange(
                conn, self.spec, self.request_timeout_s, silence="not ready"
            )
            if status != "ready":
                raise RecommenderProcessError(f"the recommender could not start: {payload}")
        except (EOFError, OSError, TimeoutError, RecommenderProcessError) as exc:
            child.fail()
            self.metrics.failures.inc()
            log.error("recommender process did not start: %s", exc)
            raise RecommenderProcessError(f"the recommender process did not start: {exc}") from exc
        self.restored = payload
        child.started()
        log.info(
            "recommender process %d ready in %.1f s (model %s, %d events learned)",
            pid,
            time.monotonic() - started,
            *payload,
        )
        return conn

    def _stop(self, *, ask: bool) -> int | None:
        return self._child.end(ask=ask, timeout=5.0 if ask else 2.0)


def _settle(future: Future[Any], *, answer: Any = None, error: BaseException | None = None) -> None:
    """Give ``future`` its answer, unless its caller gave up on it: a cancelled future
    (an awaiting task cancelled at shutdown) would raise and end the link thread, and
    every later request would then wait forever."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(answer)
    except InvalidStateError:
        log.debug("recommender: an answer nobody waits for any more was dropped")
