"""Re-deciding quarantined records with today's pipeline, each source record once.

:class:`QuarantineReplayer` takes one :class:`~streamguard.quarantine.entry.QuarantineEntry`
at a time and returns a :class:`Decision`:

- ``moved``: the record's original bytes now pass; ``value`` is the clean record, whose
  ``_dq.source`` is the original source position and ``_dq.replayed_from`` the
  quarantine record's own position.
- ``still``: it still fails; ``value`` is a quarantine record with today's reasons
  (and ``replayed_from``).
- ``kept``: not re-run: quarantined as ``duplicate`` (delivered once already), or only
  a truncated head of the value was kept; ``value`` is the quarantine record as read
  (plus ``replayed_from``).
- ``skipped``: its original source position was already decided in this run, or
  delivered to clean by an earlier run (``delivered``); nothing to write.

Pure: the pipeline comes from a factory, the tally is a plain object.

Examples
--------
>>> from streamguard.events.records import Reason, quarantine_value
>>> from streamguard.pipeline import RecordPipeline
>>> from streamguard.quarantine.entry import parse_entry
>>> src = SourcePosition("events.behavior", 0, 41)
>>> raw = b'{"event_id": "e1", "event_type": "view", "user_id": "u1", "product_id": "p1",' \\
...       b' "ts": "2026-12-01T10:00:00Z"}'
>>> held = quarantine_value(raw, src, (Reason("unknown_enum", "event_type", "too strict"),),
...                         "2026-12-01T10:00:01.000Z")
>>> replayer = QuarantineReplayer(lambda stream: RecordPipeline(stream, clock=lambda: 0.0))
>>> here = SourcePosition("file:q.jsonl", 0, 0)
>>> decision = replayer.replay(parse_entry(held), here, "behavior")
>>> decision.kind, decision.key, orjson.loads(decision.value)["_dq"]["replayed_from"]
('moved', b'u1', {'topic': 'file:q.jsonl', 'partition': 0, 'offset': 0})
>>> replayer.replay(parse_entry(held), SourcePosition("file:q.jsonl", 0, 1), "behavior").kind
'skipped'
>>> replayer.tally.moved_to_clean, replayer.tally.skipped_duplicates
(1, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from streamguard.events.records import Outcome, Reason, SourcePosition
from streamguard.quarantine.entry import BadEntry, QuarantineEntry, source_key
from streamguard.quarantine.tally import ReplayTally

__all__ = ["Decision", "DecisionKind", "Processor", "QuarantineReplayer"]

DecisionKind = Literal["moved", "still", "kept", "skipped"]


class Processor(Protocol):
    """What decides a record: :class:`~streamguard.pipeline.RecordPipeline` does."""

    def process(self, raw: bytes | None, source: SourcePosition) -> Outcome:
        """The outcome of one raw record from ``source``."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one quarantine record (see the module docs for the kinds).

    ``key`` is the clean record's Kafka key (``moved`` only); ``value`` the bytes to
    write (``None`` when ``skipped``); ``reasons`` today's reasons (``still``) or the
    original ones (``kept``).
    """

    kind: DecisionKind
    stream: str
    source: SourcePosition
    key: bytes | None = None
    value: bytes | None = None
    reasons: tuple[Reason, ...] = ()


class QuarantineReplayer:
    """Runs quarantine records through ``pipeline_for(stream)`` (built once per stream).

    ``delivered``: source keys (:func:`~streamguard.quarantine.entry.source_key`) that
    earlier runs already delivered to clean; they and every source seen in this run are
    ``skipped``. ``tally`` counts every decision.
    """

    def __init__(
        self,
        pipeline_for: Callable[[str], Processor],
        *,
        delivered: Iterable[str] = (),
    ) -> None:
        self._pipeline_for = pipeline_for
        self._pipelines: dict[str, Processor] = {}
        self._delivered = set(delivered)
        self._seen: set[str] = set()
        self.tally = ReplayTally()

    def _pipeline(self, stream: str) -> Processor:
        pipeline = self._pipelines.get(stream)
        if pipeline is None:
            pipeline = self._pipelines[stream] = self._pipeline_for(stream)
        return pipeline

    def replay(
        self, entry: QuarantineEntry, replayed_from: SourcePosition, stream: str
    ) -> Decision:
        """Decide one quarantine record read at ``replayed_from`` for ``stream``."""
        key = source_key(entry.source)
        if key in self._delivered or key in self._seen:
            decision = Decision("skipped", stream, entry.source)
            self.tally.add(decision, entry, already_replayed=key in self._delivered)
            return decision
        self._seen.add(key)
        if "duplicate" in entry.codes or not entry.complete:
            kept = dict(entry.document)
            kept["replayed_from"] = replayed_from.as_dict()
            decision = Decision(
                "kept", stream, entry.source, value=orjson.dumps(kept), reasons=entry.reasons
            )
        else:
            decision = self._rerun(entry, replayed_from, stream)
        self.tally.add(decision, entry)
        return decision

    def _rerun(
        self, entry: QuarantineEntry, replayed_from: SourcePosition, stream: str
    ) -> Decision:
        outcome = self._pipeline(stream).process(entry.raw, entry.source)
        position = replayed_from.as_dict()
        if outcome.is_clean and outcome.record is not None:
            record: dict[str, Any] = outcome.record
            record["_dq"]["replayed_from"] = position
            return Decision(
                "moved", stream, entry.source, key=outcome.key, value=orjson.dumps(record)
            )
        document = orjson.loads(outcome.value)
        document["replayed_from"] = position
        return Decision(
            "still",
            stream,
            entry.source,
            value=orjson.dumps(document),
            reasons=outcome.reasons,
        )

    def reject(self, error: BadEntry) -> None:
        """Count a line or message that is not a quarantine record."""
        self.tally.add_bad(error)

    def not_replayed(self, why: str) -> None:
        """Count a record left alone (``other_stream``, ``unknown_stream``)."""
        self.tally.add_not_replayed(why)
