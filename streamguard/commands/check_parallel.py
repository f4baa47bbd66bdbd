"""The parent's side of ``streamguard check``'s child process.

The pipeline runs one record at a time in one thread (its observers must see records in
order). What feeds nothing back into later records need not wait for it:
:class:`CheckOffload` forks a child (:mod:`streamguard.commands.check_child`) that
scores quality, writes ``clean.jsonl`` and runs schema drift and the detectors of the
embedded texts, on the machine's other core. The parent keeps what its later records
depend on: repair, validation, dedupe and the anomaly score (with the embedding model,
whose vectors the score's novelty learns).

Findings come back at the end and are merged into the order one process emits them: a
record's schema findings, then those of the batch its texts completed, then its anomaly
finding; so ``findings.jsonl``, ``clean.jsonl`` and the report are the same either way
(but for timestamps). :func:`preload_models` loads the embedding model in a thread
while the first records go through.

Elsewhere than on Linux (no ``fork``, or one that is unsafe with numpy loaded: macOS) it
all runs in this process as before. A child that fails makes the run fail
(:class:`OffloadError`), as the same error would in one process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

from streamguard.commands.check_child import ChildJob, ChildResult, Verdict, run_child
from streamguard.drift.engine import DriftEngine
from streamguard.embed.base import Vectors
from streamguard.events.findings import Finding
from streamguard.events.records import Outcome, SourcePosition

__all__ = ["CheckOffload", "OffloadError", "preload_models"]

#: The offset of what the engine emits after the last record (the final flush).
_END = 1 << 62
#: Verdicts a message carries. The sender thread takes the interpreter lock from the
#: pipeline every 5 ms at best (the switch interval): smaller messages would queue up
#: faster than it sends them, and the child, starved, would finish long after the parent.
_BATCH = 1024
#: Messages the parent may run ahead of the child (then it waits: bounded memory).
_MAX_QUEUED = 32
#: The interpreter's switch interval while the child runs (CPython's default is 5 ms):
#: the sender thread gets the lock sooner, so the child lags less (~5% of a run's wall
#: time on 200k behaviour events, five alternating pairs).
_SWITCH_S = 0.001


class OffloadError(RuntimeError):
    """The child process failed (its traceback is the message)."""


class _Observer:
    """The engine as a pipeline observer, minus schema drift (the child's part); notes
    the record being processed and after which records the engine emitted findings."""

    def __init__(self, engine: DriftEngine) -> None:
        self.engine = engine
        self.offset = -1
        #: ``(offset, findings emitted so far)`` after each record that emitted one.
        self.marks: list[tuple[int, int]] = []

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Schema drift runs in the child."""

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """The engine's ``on_clean`` (anomaly score, texts to embed)."""
        engine = self.engine
        before = engine.findings_emitted
        self.offset = source.offset
        engine.on_clean(record, source)
        if engine.findings_emitted != before:
            self.marks.append((source.offset, engine.findings_emitted))

    def on_outcome(self, outcome: Outcome) -> None:
        """The engine's ``on_outcome``."""
        self.engine.on_outcome(outcome)


class CheckOffload:
    """Quality, ``clean.jsonl``, schema drift and the embedded texts' detectors of one
    ``check`` run in a forked child (see the module docstring).

    :meth:`start` it before any thread (:func:`preload_models`) and before the first
    record; put :attr:`observer` (when there is an engine) in the pipeline instead of
    the engine and no quality scorer; hand each record's :class:`Outcome` to
    :meth:`add`, in order; :meth:`finish` (instead of ``engine.close()``) returns the
    child's :class:`ChildResult` and every drift finding in emission order.
    """

    def __init__(self, engine: DriftEngine | None, conn: Connection, process: Any) -> None:
        self.engine = engine
        self.observer = _Observer(engine) if engine is not None else None
        self._conn = conn
        self._process = process
        self._verdicts: list[Verdict] = []
        self._records = 0
        # Messages go out through a thread: a send blocks until the child reads (a batch
        # is larger than the socket's buffer), and the pipeline need not wait for that.
        self._outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(_MAX_QUEUED)
        self._sender = threading.Thread(target=self._send, name="streamguard-check-send")
        self._sender.daemon = True
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_S)
        self._sender.start()
        if engine is not None and engine.embedding is not None:
            engine.embedding.on_vectors = self._on_vectors

    @classmethod
    def start(cls, job: ChildJob) -> CheckOffload | None:
        """Fork the child; None (run it all here) but on Linux, where ``fork`` of a
        process with numpy loaded is safe (macOS's system libraries are not)."""
        if not sys.platform.startswith("linux"):
            return None
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(
            target=run_child, args=(child, job), name="streamguard-check", daemon=True
        )
        process.start()
        child.close()
        return cls(job.engine, parent, process)

    def __enter__(self) -> CheckOffload:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()

    def abort(self) -> None:
        """Stop the child without its results (the run failed)."""
        sys.setswitchinterval(self._switch)
        self._process.terminate()
        self._process.join(5.0)
        with contextlib.suppress(queue.Full):
            self._outbox.put(None, timeout=5.0)  # the sender sees a closed pipe, then the end
        self._sender.join(5.0)
        self._conn.close()

    def add(self, outcome: Outcome) -> None:
        """Hand the child a record's verdict (every record, in order)."""
        self._verdicts.append(outcome.reasons if outcome.status == "quarantine" else outcome.value)
        if len(self._verdicts) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._verdicts:
            self._records += len(self._verdicts)
            self._put(("v", self._verdicts))
            self._verdicts = []

    def _put(self, message: tuple[Any, ...]) -> None:
        # Waits while the child is _MAX_QUEUED messages behind; a dead child's sender
        # drains the queue, so this never waits forever.
        self._outbox.put(message)

    def _send(self) -> None:
        broken = False
        while True:
            message = self._outbox.get()
            if not broken:
                try:
                    self._conn.send(message)
                except OSError:
                    broken = True  # the child is gone: finish() says why
            if message is None or message[0] == "end":
                return

    def _on_vectors(self, items: list[tuple[str, Any]], vectors: Vectors) -> None:
        assert self.engine is not None and self.observer is not None
        self.engine.learn_vectors(items, vectors)  # the child detects (detect_vectors)
        self._put(("e", self.observer.offset, items, vectors))

    def finish(self, timeout: float = 600.0) -> tuple[ChildResult, list[Finding] | None]:
        """Flush the engine, wait for the child (at most ``timeout`` seconds after the
        last record: it keeps pace with the pipeline, so it is a hung child's limit);
        the child's result and, with an engine, every drift finding of the run in the
        order one process emits them (the newest ``engine.max_findings``)."""
        sys.setswitchinterval(self._switch)
        engine_findings: list[Finding] = []
        if self.engine is not None and self.observer is not None:
            self.observer.offset = _END
            self.engine.close()
            engine_findings = self.engine.drain_findings()
        self._flush()
        self._put(("end", self._records))
        self._sender.join(timeout)
        try:
            if self._sender.is_alive() or not self._conn.poll(timeout):
                raise TimeoutError(f"no answer in {timeout:.0f} s")
            status, payload = self._conn.recv()
        except (EOFError, OSError) as exc:  # TimeoutError is an OSError
            status, payload = "error", f"the child process ended without an answer ({exc!r})"
        finally:
            self._conn.close()
            self._process.join(5.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5.0)
        if status != "ok":
            raise OffloadError(f"streamguard check's child process failed:\n{payload}")
        result: ChildResult = payload
        if self.engine is None or self.observer is None:
            return result, None
        return result, self._merge(result, engine_findings)

    def _merge(self, result: ChildResult, engine_findings: list[Finding]) -> list[Finding]:
        assert self.engine is not None and self.observer is not None
        keyed = [(offset, 0, i, finding) for i, (offset, finding) in enumerate(result.schema)]
        keyed += [(offset, 1, i, finding) for i, (offset, finding) in enumerate(result.vectors)]
        # The engine's k-th finding was emitted while processing the record of the first
        # mark whose count reaches k (after the last record: by the final flush).
        first = self.engine.findings_emitted - len(engine_findings)  # older ones dropped
        marks = iter(self.observer.marks)
        offset, reached = next(marks, (_END, first))
        for k, finding in enumerate(engine_findings, start=first + 1):
            while reached < k and offset != _END:
                offset, reached = next(marks, (_END, k))
            keyed.append((offset, 2, k, finding))
        keyed.sort(key=lambda item: item[:3])
        return list(deque((item[3] for item in keyed), maxlen=self.engine.max_findings))


def _load_model(engine: DriftEngine) -> None:
    """Load the embedding model. A failure is left to the pipeline's own first use,
    which raises it where it is reported."""
    with contextlib.suppress(Exception):
        if engine.embedding is not None:
            _ = engine.embedding.embedder.dim  # a lazy embedder loads here


def preload_models(engine: DriftEngine) -> threading.Thread | None:
    """Start loading the embedding model ``engine`` will need in a background thread, so
    that its start-up overlaps the pipeline's first records instead of stalling the first
    embedding batch (much of building an ONNX session releases the GIL). Nothing when
    the engine embeds no text."""
    if engine.embedding is None or not engine.text_fields:
        return None
    thread = threading.Thread(
        target=_load_model, args=(engine,), name="streamguard-preload", daemon=True
    )
    thread.start()
    return thread
