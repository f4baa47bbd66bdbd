"""The generator's labels against the pipeline's decisions, record by record.

Every synthetic record carries the outcome it should reach (``expected``) and the rule or
reason code that should produce it (``expected_code``). One pipeline per stream decides
thousands of them, faults of every kind included, and must agree on every record.

The simulators and the fault injector draw from separate random streams, so the same
seed without faults yields the *original* event behind every faulted record: a repaired
record must come out equal to the original one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest

from streamguard.events.records import Outcome, SourcePosition
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.sources.faults import (
    DEFAULT_TOO_LARGE_BYTES,
    FAULTS,
    FaultMix,
    GeneratedRecord,
)
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex

NOW = 1_800_000_000.0
COUNT = {"behavior": 4000, "product": 2500}
MAX_RECORD_BYTES = 4096
TOO_LARGE_BYTES = MAX_RECORD_BYTES + 512  # just over the limit: keeps the test light
SEED = 20261101

#: The field each fault breaks: where the correction or the reason must point.
FAULT_FIELDS: dict[str, set[str | None]] = {
    "price_as_string": {"price"},
    "quantity_as_string": {"quantity"},
    "currency_case": {"currency"},
    "event_type_variant": {"event_type"},
    "platform_variant": {"platform"},
    "ts_epoch_seconds": {"ts"},
    "ts_naive_iso": {"ts"},
    "negative_price": {"price"},
    "zero_quantity": {"quantity"},
    "negative_stock": {"stock"},
    "unknown_event_type": {"event_type"},
    "unknown_op": {"op"},
    "missing_event_id": {"event_id"},
    "missing_user_id": {"user_id"},
    "missing_ts": {"ts"},
    "missing_product_id": {"product_id"},
    "duplicate_event": {"event_id"},
    "not_json": {None},
    "invalid_utf8": {None},
    "not_an_object": {None},
    "wrong_type": {"user_id", "quantity"},
    "too_large": {None},
}
#: Faults whose repair cannot restore sub-second precision (the fault drops it).
TS_SECONDS_ONLY = {"ts_epoch_seconds", "ts_naive_iso"}


def test_every_fault_kind_has_a_field() -> None:
    assert set(FAULT_FIELDS) == set(FAULTS)


def faulted(stream: StreamName, count: int, seed: int = SEED) -> list[GeneratedRecord]:
    mix = FaultMix.uniform(0.5, stream, include_too_large=True)
    return list(generate(stream, count, seed=seed, faults=mix, too_large_bytes=TOO_LARGE_BYTES))


def run(stream: StreamName, records: list[GeneratedRecord]) -> list[Outcome]:
    pipeline = RecordPipeline(
        stream,
        max_record_bytes=MAX_RECORD_BYTES,
        dedupe=DedupeIndex(clock=lambda: NOW),
        clock=lambda: NOW,
    )
    topic = f"events.{stream}"
    return [
        pipeline.process(record.value, SourcePosition(topic, 0, offset))
        for offset, record in enumerate(records)
    ]


def decisions(outcome: Outcome) -> list[tuple[str, str | None]]:
    """(rule or reason code, field) of every correction and reason."""
    return [(c.rule, c.field) for c in outcome.corrections] + [
        (r.code, r.field) for r in outcome.reasons
    ]


def without_dq(record: dict[str, Any] | None) -> dict[str, Any]:
    assert record is not None
    return {k: v for k, v in record.items() if k != "_dq"}


@pytest.mark.parametrize("stream", ["behavior", "product"])
def test_pipeline_agrees_with_every_generated_label(stream: StreamName) -> None:
    records = faulted(stream, COUNT[stream])
    outcomes = run(stream, records)
    originals = run(stream, list(generate(stream, COUNT[stream], seed=SEED)))
    assert {o.status for o in originals} == {"valid"}  # no faults, no dedupe hits

    seen: Counter[str] = Counter()
    mismatches = []
    for offset, (record, outcome, original) in enumerate(
        zip(records, outcomes, originals, strict=True)
    ):
        seen[record.fault or "none"] += 1
        found = decisions(outcome)
        ok = outcome.status == record.expected
        if record.fault is None:
            ok = ok and found == [] and record.expected_code is None
        else:
            # Exactly one decision, the labelled code, on the field the fault broke.
            ok = ok and len(found) == 1 and found[0][0] == record.expected_code
            ok = ok and found[0][1] in FAULT_FIELDS[record.fault]
        if ok and outcome.status != "quarantine":
            # A repaired record is the original record again.
            got, want = without_dq(outcome.record), without_dq(original.record)
            if record.fault in TS_SECONDS_ONLY:
                got_ts, want_ts = got.pop("ts"), want.pop("ts")
                ok = datetime.fromisoformat(got_ts) == datetime.fromisoformat(want_ts).replace(
                    microsecond=0
                )
            ok = ok and got == want
            ok = ok and outcome.key == original.key
        if not ok:
            mismatches.append((offset, record.fault, record.expected, outcome.status, found))
    assert mismatches == [], mismatches[:10]

    kinds = {name for name, spec in FAULTS.items() if stream in spec.streams}
    assert kinds - set(seen) == set(), "fault kinds never generated"
    assert set(seen) - {"none"} <= kinds
    assert all(seen[k] >= 10 for k in kinds), seen
    # Half the records carry a fault (binomial, n in the thousands: +-5% is > 6 sigma).
    assert 0.45 < 1 - seen["none"] / len(records) < 0.55


def test_both_streams_interleaved() -> None:
    mix = FaultMix.uniform(0.3, "both", include_too_large=True)
    records = list(generate("both", 3000, seed=5, faults=mix, too_large_bytes=TOO_LARGE_BYTES))
    by_stream: dict[str, list[GeneratedRecord]] = {"behavior": [], "product": []}
    for record in records:
        by_stream[record.stream].append(record)
    assert by_stream["behavior"] and by_stream["product"]
    streams: tuple[StreamName, ...] = ("behavior", "product")
    for stream in streams:
        outcomes = run(stream, by_stream[stream])
        for record, outcome in zip(by_stream[stream], outcomes, strict=True):
            assert outcome.status == record.expected
            codes = {code for code, _ in decisions(outcome)}
            assert record.expected_code is None or record.expected_code in codes


def test_full_size_too_large_records_at_the_default_limit() -> None:
    mix = FaultMix.parse("too_large=0.5", "product")
    records = list(generate("product", 12, seed=1, faults=mix))
    large = [r for r in records if r.fault == "too_large"]
    assert large, "expected some too_large records"
    pipeline = RecordPipeline("product", clock=lambda: NOW)  # default 1 MiB limit
    for offset, record in enumerate(records):
        outcome = pipeline.process(record.value, SourcePosition("events.product", 0, offset))
        assert outcome.status == record.expected
        if record.fault == "too_large":
            assert len(record.value) >= DEFAULT_TOO_LARGE_BYTES > 1_048_576
            assert [r.code for r in outcome.reasons] == ["too_large"]
            assert len(outcome.value) < 16_384


@pytest.mark.parametrize("stream", ["behavior", "product", "both"])
def test_same_seed_same_bytes(stream: str) -> None:
    mix = FaultMix.uniform(0.5, stream, include_too_large=True)

    def sample(seed: int) -> list[tuple[Any, ...]]:
        return [
            (r.stream, r.key, r.value, r.fault, r.expected, r.expected_code)
            for r in generate(stream, 600, seed=seed, faults=mix, too_large_bytes=5000)
        ]

    first = sample(7)
    assert first == sample(7)
    assert first != sample(8)
    assert len({value for _, _, value, *_ in first}) > 500  # not a constant stream


def test_same_seed_same_decisions() -> None:
    records = faulted("behavior", 1000, seed=99)
    first = [o.value for o in run("behavior", records)]
    assert first == [o.value for o in run("behavior", faulted("behavior", 1000, seed=99))]


def test_generated_valid_records_are_well_formed() -> None:
    for record in generate("behavior", 300, seed=4):
        event = orjson.loads(record.value)
        assert record.key == event["user_id"].encode()
        assert event["schema_version"] == 1
    for record in generate("product", 300, seed=4):
        event = orjson.loads(record.value)
        assert record.key == event["product_id"].encode()
