"""What ``streamguard check`` runs beside its pipeline, on the machine's other cores.

The pipeline runs one record at a time in one thread (its observers must see records in
order). Parts of a drift run that feed nothing back into the records need not wait for
it: :class:`DriftOffload` forks a child process that holds a copy of the (still empty)
:class:`~streamguard.drift.engine.DriftEngine` and does

* **schema drift**: it reads the same file, decodes each line as the pipeline does and
  feeds the engine's :class:`~streamguard.drift.schema_drift.SchemaDriftDetector`;
* **the drift detectors of embedded texts** (semantic, contamination, language, gradual):
  the pipeline embeds each batch of texts as before (the anomaly score's embedding
  novelty learns the vectors there, at the same record as in one process) and sends
  the batch to the child, whose engine runs its detectors on it (and loads langid's
  model there, not in the pipeline's process).

Findings come back at the end and are merged into the order one process emits them: a
record's schema findings, then those of the batch its texts completed, then its anomaly
finding; so ``findings.jsonl`` is the same either way. :func:`preload_models` loads the
embedding model in a thread while the first records go through.

Elsewhere than on Linux (no ``fork``, or one that is unsafe with numpy loaded: macOS) the
engine runs in this process as before. A child that fails makes the run fail
(:class:`OffloadError`), as the same error would in one process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import sys
import threading
import traceback
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from streamguard.commands.file_input import iter_lines
from streamguard.drift.engine import DriftEngine
from streamguard.embed.base import Vectors
from streamguard.events.codec import decode_object
from streamguard.events.findings import Finding
from streamguard.events.records import Outcome, SourcePosition

__all__ = ["DriftOffload", "OffloadError", "preload_models"]

#: Lines the child reads between two looks at the batches waiting for it.
_POLL_EVERY = 512
#: The offset of what the engine emits after the last record (the final flush).
_END = 1 << 62

_Batch = tuple[int, list[tuple[str, Any]], Vectors]


class OffloadError(RuntimeError):
    """The child process failed (its traceback is the message)."""


def _child(conn: Connection, engine: DriftEngine, path: Path, topic: str, max_bytes: int) -> None:
    try:
        schema: list[tuple[int, Finding]] = []
        vectors: list[tuple[int, Finding]] = []
        done = False

        def take(batch: _Batch) -> None:
            offset, items, rows = batch
            engine.on_vectors(items, rows)
            vectors.extend((offset, finding) for finding in engine.drain_findings())

        detector = engine.schema
        with path.open("rb") as source:
            for offset, line in enumerate(iter_lines(source)):
                record = decode_object(line, max_bytes=max_bytes)
                if type(record) is dict:
                    for finding in detector.update(record, SourcePosition(topic, 0, offset)):
                        schema.append((offset, finding))
                if not offset % _POLL_EVERY:
                    while not done and conn.poll():
                        batch = conn.recv()
                        done = batch is None
                        if not done:
                            take(batch)
        while not done:
            batch = conn.recv()
            done = batch is None
            if not done:
                take(batch)
        conn.send(("ok", schema, vectors))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


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


def _learn(engine: DriftEngine, items: list[tuple[str, Any]], vectors: Vectors) -> None:
    """The anomaly scorer's part of :meth:`DriftEngine.on_vectors` (same order)."""
    rows_by_field: dict[str, list[int]] = {}
    for row, (_, (field, _)) in enumerate(items):
        rows_by_field.setdefault(field, []).append(row)
    for field, rows in rows_by_field.items():
        engine.scorer.learn_vectors(field, [items[row][0] for row in rows], vectors[rows])


class DriftOffload:
    """Schema drift and the embedded texts' detectors of one ``check`` run in a forked
    child (see the module docstring).

    :meth:`start` it before any thread (:func:`preload_models`) and before the first
    record; use :attr:`observer` in the pipeline instead of the engine; :meth:`finish`
    (instead of ``engine.close()``) returns every finding in emission order.
    """

    def __init__(self, engine: DriftEngine, conn: Connection, process: Any) -> None:
        self.engine = engine
        self.observer = _Observer(engine)
        self._conn = conn
        self._process = process
        # Batches go out through a thread: a send blocks until the child reads (a batch
        # is larger than the socket's buffer), and the pipeline must not wait for that.
        self._outbox: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="streamguard-drift-send")
        self._sender.daemon = True
        self._sender.start()
        if engine.embedding is not None:
            engine.embedding.on_vectors = self._on_vectors

    @classmethod
    def start(
        cls, engine: DriftEngine, path: Path, topic: str, max_record_bytes: int
    ) -> DriftOffload | None:
        """Fork the child; None (run the engine here) but on Linux, where ``fork`` of a
        process with numpy loaded is safe (macOS's system libraries are not)."""
        if not sys.platform.startswith("linux"):
            return None
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(
            target=_child,
            args=(child, engine, path, topic, max_record_bytes),
            name="streamguard-drift",
            daemon=True,
        )
        process.start()
        child.close()
        return cls(engine, parent, process)

    def __enter__(self) -> DriftOffload:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()

    def abort(self) -> None:
        """Stop the child without its findings (the run failed)."""
        self._process.terminate()
        self._process.join(5.0)
        self._outbox.put(None)  # the sender sees a closed pipe, then the end
        self._sender.join(5.0)
        self._conn.close()

    def _send(self) -> None:
        broken = False
        while True:
            batch = self._outbox.get()
            if not broken:
                try:
                    self._conn.send(batch)
                except OSError:
                    broken = True  # the child is gone: finish() says why
            if batch is None:
                return

    def _on_vectors(self, items: list[tuple[str, Any]], vectors: Vectors) -> None:
        _learn(self.engine, items, vectors)
        self._outbox.put((self.observer.offset, items, vectors))

    def finish(self, timeout: float = 600.0) -> list[Finding]:
        """Flush the engine, wait for the child (at most ``timeout`` seconds after the
        last record: it keeps pace with the pipeline, so it is a hung child's limit);
        every finding of the run, in the order one process emits them (the newest
        ``engine.max_findings``)."""
        self.observer.offset = _END
        self.engine.close()
        engine_findings = self.engine.drain_findings()
        self._outbox.put(None)
        self._sender.join(timeout)
        try:
            if self._sender.is_alive() or not self._conn.poll(timeout):
                raise TimeoutError(f"no answer in {timeout:.0f} s")
            status, *payload = self._conn.recv()
        except (EOFError, OSError) as exc:  # TimeoutError is an OSError
            status, payload = "error", [f"the child process ended without an answer ({exc!r})"]
        finally:
            self._conn.close()
            self._process.join(5.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5.0)
        if status != "ok":
            raise OffloadError(f"streamguard check's drift process failed:\n{payload[0]}")
        schema, vectors = payload
        keyed = [(offset, 0, i, finding) for i, (offset, finding) in enumerate(schema)]
        keyed += [(offset, 1, i, finding) for i, (offset, finding) in enumerate(vectors)]
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
