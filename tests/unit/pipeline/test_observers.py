"""The observer hooks: order, raw types before repair, scores written into ``_dq``."""

from __future__ import annotations

from typing import Any

import orjson

from streamguard.events.records import Outcome, SourcePosition
from streamguard.pipeline import RecordPipeline


class Recorder:
    """Records what it sees and stamps an anomaly score on clean records."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        self.calls.append(("decoded", type(record.get("price")).__name__))

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        record["_dq"]["anomaly_score"] = 0.25
        self.calls.append(("clean", source.offset))

    def on_outcome(self, outcome: Outcome) -> None:
        self.calls.append(("outcome", outcome.status))


CART = {
    "event_id": "e1",
    "event_type": "add_to_cart",
    "user_id": "u1",
    "product_id": "p1",
    "price": "9.50",
    "currency": "USD",
    "quantity": 1,
    "ts": "2026-01-01T00:00:00Z",
}


def test_observers_see_raw_types_then_clean_then_outcome() -> None:
    recorder = Recorder()
    pipeline = RecordPipeline("behavior", observers=[recorder])
    outcome = pipeline.process(orjson.dumps(CART), SourcePosition("t", 0, 7))
    assert outcome.status == "corrected"
    # The price was a string before the numeric_string repair ran.
    assert recorder.calls == [("decoded", "str"), ("clean", 7), ("outcome", "corrected")]
    # What on_clean wrote reaches the serialized clean record.
    assert orjson.loads(outcome.value)["_dq"]["anomaly_score"] == 0.25


def test_quarantined_records_skip_on_clean_but_reach_on_outcome() -> None:
    recorder = Recorder()
    pipeline = RecordPipeline("behavior", observers=[recorder])
    pipeline.process(b"not json", SourcePosition("t", 0, 0))
    pipeline.process(orjson.dumps({**CART, "price": -1}), SourcePosition("t", 0, 1))
    assert recorder.calls == [
        ("outcome", "quarantine"),
        ("decoded", "int"),
        ("outcome", "quarantine"),
    ]
