"""The fused fast path decides exactly as repair + pydantic do, byte for byte.

Each test runs the same input through a pipeline with the fast path and one without
(``fast_path=False``: repair, then the pydantic model as the authority) and compares
every field of the outcome, including the serialized bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.events.models import EPOCH_MILLIS_MIN
from streamguard.events.records import Outcome, SourcePosition, format_ts
from streamguard.pipeline import RecordPipeline
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex
from streamguard.validate.fast_path import BehaviorFastPath

NOW = 1_800_000_000.0
VALID: dict[str, Any] = {
    "event_id": "e1",
    "event_type": "purchase",
    "user_id": "u1",
    "session_id": "s1",
    "product_id": "p1",
    "price": 12.5,
    "currency": "EUR",
    "quantity": 2,
    "platform": "web",
    "ts": 1_793_491_200_007,
    "schema_version": 1,
}


def _pair() -> tuple[RecordPipeline, RecordPipeline]:
    def make(fast: bool) -> RecordPipeline:
        dedupe = DedupeIndex(clock=lambda: NOW)
        return RecordPipeline("behavior", dedupe=dedupe, clock=lambda: NOW, fast_path=fast)

    return make(True), make(False)


def _same(fast: Outcome, full: Outcome) -> None:
    assert fast.status == full.status
    assert fast.value == full.value
    assert fast.key == full.key
    assert fast.reasons == full.reasons
    assert fast.corrections == full.corrections
    assert fast.record == full.record


def _compare(values: list[bytes]) -> None:
    fast, full = _pair()
    for offset, value in enumerate(values):
        source = SourcePosition("events.behavior", 0, offset)
        _same(fast.process(value, source), full.process(value, source))


def test_generated_fault_mix_decides_the_same() -> None:
    faults = FaultMix.uniform(0.5, "behavior")
    _compare([r.value for r in generate("behavior", 3000, seed=11, faults=faults)])


def test_valid_records_take_the_fast_path() -> None:
    check = BehaviorFastPath().check
    assert check(dict(VALID)) is not None
    # ...and a repairable one does not, until repair has run.
    assert check({**VALID, "currency": "eur"}) is None


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"price": 12},  # an integer price: valid, left to pydantic
        {"price": -0.0},
        {"price": "12.5"},
        {"currency": "eur"},
        {"currency": "EU"},
        {"currency": "ÉUR"},
        {"currency": "USD\n"},
        {"quantity": 0},
        {"quantity": 1_000_001},
        {"quantity": 2.0},
        {"quantity": True},
        {"event_type": "addToCart"},
        {"event_type": ["purchase"]},
        {"event_type": "search", "query": None},
        {"event_type": "search", "query": "shoes", "product_id": None},
        {"event_type": "view", "price": None, "currency": None, "quantity": None},
        {"price": None},
        {"event_id": ""},
        {"event_id": "x" * 257},
        {"user_id": 7},
        {"session_id": None},
        {"platform": "iOS"},
        {"schema_version": 0},
        {"schema_version": True},
        {"extra": {"nested": [1, 2]}},
        {"ts": EPOCH_MILLIS_MIN - 1},
        {"ts": EPOCH_MILLIS_MIN},
        {"ts": 2**32 * 1000 - 1},
        {"ts": 2**32 * 1000},
        {"ts": 253_402_300_799_999},
        {"ts": 1_793_491_200},
        {"ts": 1_793_491_200_007.5},
        {"ts": True},
        {"ts": "2026-11-01T00:00:00.031Z"},
        {"ts": "2026-11-01T00:00:00,031Z"},
        {"ts": "2026-11-01 00:00:00.031Z"},
        {"ts": "2026-02-30T00:00:00.031Z"},
        {"ts": "2026-11-01T00:00:00.031"},
        {"ts": "2026-11-01T00:00:00Z"},
        {"ts": "2026-11-01T01:00:00.031+01:00"},
        {"ts": None},
    ],
)
def test_edge_cases_decide_the_same(change: dict[str, Any]) -> None:
    _compare([orjson.dumps({**VALID, **change})])


def test_duplicates_decide_the_same() -> None:
    first = orjson.dumps(VALID)
    again = orjson.dumps({**VALID, "ts": VALID["ts"] + 5})
    _compare([first, again, first])


_FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**50),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["view", "search", "purchase", "USD", "usd", "ios", "Web", "", "add_to_cart"]),
)


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(sorted(VALID)), _FIELD_VALUES, max_size=4))
def test_random_field_values_decide_the_same(changes: dict[str, Any]) -> None:
    _compare([orjson.dumps({**VALID, **changes})])


@settings(max_examples=500, deadline=None)
@given(millis=st.integers(min_value=EPOCH_MILLIS_MIN, max_value=2**32 * 1000 - 1))
def test_epoch_millis_shortcut_matches_datetime(millis: int) -> None:
    checked = BehaviorFastPath().check({**VALID, "ts": millis})
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    assert checked == (moment.timestamp() * 1000.0, format_ts(moment))
