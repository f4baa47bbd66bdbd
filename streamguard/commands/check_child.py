"""The child process of ``streamguard check``: what it does beside the pipeline.

The pipeline (decode, repair, validate, dedupe, the anomaly score) runs one record at a
time in the parent; the rest of a record's work feeds nothing back into the parent's
later records, so it runs here, on the machine's other core, in the same record order:

* **quality** (:class:`~streamguard.quality.scorer.QualityScorer` and its
  :class:`~streamguard.commands.file_input.StreamClock`): the child reads the same file
  and decodes each line as the pipeline does (completeness is judged on what the
  producer sent, before repair); the parent sends each record's verdict, the clean
  record's bytes (``_dq.anomaly_score`` filled, ``_dq.quality_score`` still ``null``)
  or the quarantine reasons. The child stamps the quality score and writes
  ``clean.jsonl`` itself;
* **schema drift**: the engine's :class:`~streamguard.drift.schema_drift.SchemaDriftDetector`
  on the decoded lines;
* **the drift detectors of embedded texts**: the parent embeds each batch of texts (its
  anomaly score's embedding novelty learns the vectors there, at the same record as in
  one process) and sends the batch here.

Messages from the parent, in order: ``("v", [verdict, ...])`` one verdict per record,
``("e", offset, items, vectors)`` an embedded batch, ``("end", records)``. The answer:
``("ok", ChildResult)`` or ``("error", traceback)``.
"""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from streamguard.commands.file_input import StreamClock, iter_line_blocks, write_lines
from streamguard.drift.engine import DriftEngine
from streamguard.events.codec import decode_object
from streamguard.events.findings import Finding
from streamguard.events.records import Outcome, Reason, SourcePosition
from streamguard.quality.scorer import QualityScorer, QualitySnapshot

__all__ = ["ChildJob", "ChildResult", "Verdict", "run_child"]

#: A record's verdict: a clean record's bytes, or a quarantined record's reasons.
Verdict = bytes | tuple[Reason, ...]

#: What the parent's clean record holds where the child puts its quality score: the
#: last occurrence in the record's bytes is the ``_dq`` block's when ``_dq`` is the
#: record's last key (within a JSON string a quote is escaped: no string holds this).
_NO_SCORE = b'"quality_score":null'
#: Clean lines written at a time.
_WRITE_EVERY = 256


@dataclass
class ChildJob:
    """What the child runs: built in the parent before the fork, inherited by the child."""

    path: Path
    topic: str
    max_record_bytes: int
    clean_path: Path
    quality: QualityScorer
    clock: StreamClock
    #: The drift engine (schema drift, texts' detectors); None without drift.
    engine: DriftEngine | None = None


@dataclass
class ChildResult:
    """What the child found, sent back at the end."""

    #: ``(offset, finding)`` of schema drift, in emission order.
    schema: list[tuple[int, Finding]] = field(default_factory=list)
    #: ``(offset of the batch, finding)`` of the texts' detectors, in emission order.
    vectors: list[tuple[int, Finding]] = field(default_factory=list)
    quality_findings: list[dict[str, Any]] = field(default_factory=list)
    quality: QualitySnapshot | None = None


def run_child(conn: Connection, job: ChildJob) -> None:
    """The child's entry point: do ``job``, send its :class:`ChildResult` (or the
    traceback of what failed) and close ``conn``."""
    try:
        conn.send(("ok", _Child(conn, job).run()))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class _Child:
    def __init__(self, conn: Connection, job: ChildJob) -> None:
        self.conn = conn
        self.job = job
        self.result = ChildResult()
        self.verdicts: deque[Verdict] = deque()
        #: The parent's record count, once it has sent them all.
        self.total: int | None = None

    def _receive(self, wait: bool) -> None:
        """Take the messages waiting (at least one when ``wait``)."""
        conn = self.conn
        while wait or conn.poll():
            wait = False
            message = conn.recv()
            kind = message[0]
            if kind == "v":
                self.verdicts.extend(message[1])
            elif kind == "e":
                _, offset, items, rows = message
                engine = self.job.engine
                assert engine is not None  # batches come only from an engine
                engine.detect_vectors(items, rows)  # the parent's scorer learned them
                self.result.vectors.extend((offset, f) for f in engine.drain_findings())
            else:
                self.total = message[1]

    def run(self) -> ChildResult:
        job, result = self.job, self.result
        quality, topic, max_bytes = job.quality, job.topic, job.max_record_bytes
        schema = job.engine.schema if job.engine is not None else None
        on_decoded, on_clean, on_outcome = quality.on_decoded, quality.on_clean, quality.on_outcome
        advance = job.clock.on_clean
        loads, dumps = orjson.loads, orjson.dumps
        verdicts, receive = self.verdicts, self._receive
        cleaned: list[bytes] = []
        offset = -1
        with job.path.open("rb") as source, job.clean_path.open("wb") as clean:
            for block in iter_line_blocks(source):
                for line in block:
                    offset += 1
                    position = SourcePosition(topic, 0, offset)
                    record = decode_object(line, max_bytes=max_bytes)
                    if type(record) is dict:
                        if schema is not None:
                            for finding in schema.update(record, position):
                                result.schema.append((offset, finding))
                        on_decoded(record, position)
                    while not verdicts:
                        if self.total is not None:
                            raise RuntimeError(
                                f"{job.path} has more lines than the pipeline read"
                                f" ({self.total:,}): did it change during the run?"
                            )
                        receive(True)
                    verdict = verdicts.popleft()
                    if type(verdict) is bytes:
                        clean_record = loads(verdict)
                        advance(clean_record, position)
                        on_clean(clean_record, position)
                        dq = clean_record["_dq"]
                        # The record as the parent encoded it, with the score in place of
                        # its null (what encoding it again gives, at a third of the cost).
                        if next(reversed(clean_record)) == "_dq":
                            at = verdict.rfind(_NO_SCORE)
                            cleaned.append(
                                verdict[:at]
                                + b'"quality_score":'
                                + dumps(dq["quality_score"])
                                + verdict[at + len(_NO_SCORE) :]
                            )
                        else:  # the producer sent a _dq of its own, which ours replaced
                            cleaned.append(dumps(clean_record))
                        outcome = Outcome(dq["status"], position, None, b"", (), (), clean_record)
                        if len(cleaned) >= _WRITE_EVERY:
                            write_lines(clean, cleaned)
                    else:
                        assert isinstance(verdict, tuple)
                        outcome = Outcome("quarantine", position, None, b"", verdict)
                    on_outcome(outcome)
            write_lines(clean, cleaned)
        while self.total is None:
            receive(True)
        if verdicts or offset + 1 != self.total:
            raise RuntimeError(
                f"{job.path} has {offset + 1:,} lines, the pipeline read {self.total:,}:"
                " did it change during the run?"
            )
        quality.close_window()
        result.quality_findings = quality.drain_findings()
        result.quality = quality.snapshot()
        return result
