"""The per-record shortcuts give what the plain code they replace gives.

Each shortcut (hooks bound once, the cached "now" text, the fast path's cached second,
lines read a block at a time, the quicker ``__init__`` of the per-record dataclasses)
is checked against the straightforward computation it stands for.
"""

from __future__ import annotations

import dataclasses
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streamguard.commands.file_input import iter_line_blocks, iter_lines
from streamguard.events.records import Outcome, Reason, SourcePosition, format_ts
from streamguard.pipeline import RecordPipeline
from streamguard.validate.fast_path import BehaviorFastPath

_EVENT = (
    b'{"event_id": "e1", "event_type": "view", "user_id": "u1", "product_id": "p1",'
    b' "ts": 1800000000000}'
)


class _Recorder:
    """Counts its hook calls; its on_decoded does nothing (the pipeline may skip it)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Nothing."""

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        self.calls.append("clean")

    def on_outcome(self, outcome: Outcome) -> None:
        self.calls.append(outcome.status)


def test_observers_set_after_construction_are_called() -> None:
    pipeline = RecordPipeline("behavior", clock=lambda: 1_800_000_000.0)
    recorder = _Recorder()
    pipeline.observers = [recorder]
    pipeline.process(_EVENT, SourcePosition("t", 0, 0))
    pipeline.process(b"not json", SourcePosition("t", 0, 1))
    assert pipeline.observers == (recorder,)
    assert recorder.calls == ["clean", "valid", "quarantine"]


def test_every_hook_that_does_something_is_called_once_per_record() -> None:
    seen: list[str] = []

    class Watcher:
        def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
            seen.append("decoded")

        def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
            seen.append("clean")

        def on_outcome(self, outcome: Outcome) -> None:
            seen.append("outcome")

    pipeline = RecordPipeline("behavior", observers=[Watcher(), _Recorder()])
    pipeline.process(_EVENT, SourcePosition("t", 0, 0))
    assert seen == ["decoded", "clean", "outcome"]


@pytest.mark.parametrize("seed", [1, 2])
def test_cached_now_text_is_format_ts_of_the_clock(seed: int) -> None:
    rng = random.Random(seed)
    millis = [rng.randrange(0, 2**32 * 1000) for _ in range(20_000)]
    millis += [0, 999, 1000, 1_800_000_000_999, 2**32 * 1000 - 1, 2**32 * 1000 + 7]
    start = rng.randrange(1_700_000_000_000, 1_800_000_000_000)
    millis += [start + step for step in range(0, 5_000, 3)]  # runs within one second
    now = [0.0]
    pipeline = RecordPipeline("behavior", clock=lambda: now[0])
    for ms in millis:
        now[0] = ms / 1000
        expected = format_ts(datetime.fromtimestamp(int(now[0] * 1000) / 1000, tz=UTC))
        assert pipeline._now() == expected


def test_fast_path_cached_second_gives_the_parsed_event_time() -> None:
    rng = random.Random(3)
    check = BehaviorFastPath().check
    base = {"event_id": "e1", "event_type": "view", "user_id": "u1", "product_id": "p1"}
    moment = datetime(1971, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        step = rng.choice([0, 1, 7, 999, 1000, 1001, 86_400_000 * rng.randrange(400)])
        moment += timedelta(milliseconds=step)
        ts = format_ts(moment)
        assert check({**base, "ts": ts}) == (datetime.fromisoformat(ts).timestamp() * 1000.0, ts)
    # The cached second must not let text through that the full check refuses.
    check({**base, "ts": "2026-11-01T00:00:00.005Z"})
    for odd in (
        "2026-11-01T00:00:00.00\u0661Z",
        "2026-11-01T00:00:00.001+",
        "2026-11-01T00:00:00,001Z",
    ):
        assert check({**base, "ts": odd}) is None


def _readline_lines(data: bytes) -> list[bytes]:
    """What iter_lines gave when it read a line at a time."""
    return [
        line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n") for line in io.BytesIO(data)
    ]


def test_lines_read_a_block_at_a_time_are_the_lines_read_one_by_one() -> None:
    rng = random.Random(5)
    for _ in range(2_000):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randrange(40)))
        expected = _readline_lines(data)
        for block_bytes in (1, 2, 3, 7, 1 << 20):
            blocks = iter_line_blocks(io.BytesIO(data), block_bytes)
            assert [line for block in blocks for line in block] == expected
        assert list(iter_lines(io.BytesIO(data))) == expected


def test_a_line_longer_than_many_blocks_stays_whole() -> None:
    data = b"x" * 10_000 + b"\r\nyy\n" + b"z" * 5_000
    lines = [line for block in iter_line_blocks(io.BytesIO(data), 64) for line in block]
    assert lines == [b"x" * 10_000, b"yy", b"z" * 5_000]


def test_record_dataclasses_keep_their_dataclass_behaviour() -> None:
    source = SourcePosition(topic="t", partition=1, offset=2)
    assert source == SourcePosition("t", 1, 2) and hash(source) == hash(SourcePosition("t", 1, 2))
    assert repr(source) == "SourcePosition(topic='t', partition=1, offset=2)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.offset = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        SourcePosition("t", 1)  # type: ignore[call-arg]
    reason = Reason("duplicate", "event_id", "seen")
    outcome = Outcome(status="quarantine", source=source, key=b"k", value=b"v", reasons=(reason,))
    assert (outcome.corrections, outcome.record, outcome.catalogue) == ((), None, None)
    assert outcome == Outcome("quarantine", source, b"k", b"v", (reason,), (), {"x": 1}, None)
    assert dataclasses.replace(outcome, key=b"z").key == b"z"
    assert [f.name for f in dataclasses.fields(outcome)][:4] == ["status", "source", "key", "value"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.status = "valid"  # type: ignore[misc]
