"""Any JSON value, no crash; batches change nothing; deep and 1 MB records stay bounded."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.inventory import StreamProfile
from streamguard.inventory import profile as profile_module

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "0.0", "ana@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"])
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)
# keys without "." or "[]", so no two places in a record share a dotted path
KEYS = st.text(alphabet="abcxyz_", min_size=1, max_size=3)
SIMPLE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
RECORDS = st.lists(st.dictionaries(KEYS, SIMPLE, max_size=5) | SCALARS, min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(JSON, min_size=1, max_size=20))
def test_no_json_value_crashes_the_profiler(values: list[Any]) -> None:
    profile = StreamProfile("s", max_fields=20)
    for value in values:
        profile.learn_one(value)
    snap = profile.snapshot()
    assert snap["records"] == len(values)
    assert snap["objects"] == sum(isinstance(v, dict) for v in values)
    assert len(snap["fields"]) <= 20
    for field in snap["fields"]:
        assert 0.0 <= field["presence"] <= 1.0
        assert abs(sum(field["types"].values()) - 1.0) < 0.01
    orjson.dumps(snap)  # serialisable


def _snapshot(records: list[Any], batch: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(profile_module, "BATCH_RECORDS", batch)
    profile = StreamProfile("s")
    for record in records:
        profile.learn_one(record)
    return orjson.loads(orjson.dumps(profile.snapshot()))


@settings(max_examples=150, deadline=None)
@given(RECORDS, st.integers(min_value=2, max_value=16))
def test_batches_give_the_same_inventory_as_value_by_value(records: list[Any], batch: int) -> None:
    # Exact while small (fewer than 128 distinct values, 1024 numbers per field): the
    # batched profile must equal the value-by-value one, field for field.
    with pytest.MonkeyPatch.context() as monkeypatch:
        one_by_one = _snapshot(records, 1, monkeypatch)
        batched = _snapshot(records, batch, monkeypatch)
    assert batched == one_by_one


def test_batched_and_unbatched_agree_on_a_large_mixed_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records: list[Any] = []
    for i in range(3000):
        ts: Any = (
            1_793_491_200_000 + i if i % 3 else f"2026-11-01T00:00:{i % 60:02d}.{i % 1000:03d}Z"
        )
        records.append(
            {
                "id": f"{i:08x}-1b0a-456b-b5d7-9ef6b9d39a7a",
                "ts": ts,
                "price": "9.50" if i % 17 == 0 else (i % 50) + 0.5,
                "who": "ana@example.com" if i % 10 == 0 else f"u{i % 40}",
                "flag": None if i % 7 == 0 else i % 2 == 0,
                "tags": ["a", "b"][: i % 3],
            }
        )
    exact = _snapshot(records, 1, monkeypatch)
    batched = _snapshot(records, 256, monkeypatch)
    for a, b in zip(exact["fields"], batched["fields"], strict=True):
        for f in (a, b):  # past 1024 numbers the quantiles are KLL estimates
            if f["numeric"] is not None:
                f["numeric"]["p50"] = f["numeric"]["p99"] = None
        assert a == b, a["path"]


def test_a_deeply_nested_record_costs_bounded_time() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = {"a": deep}
    wide_deep: Any = [1]
    for _ in range(100_000):
        wide_deep = [wide_deep, wide_deep]  # shared: a tree of 2^100000 leaves if walked
    profile = StreamProfile("s", max_depth=8)
    started = time.process_time()
    profile.learn_one({"deep": deep, "arrays": wide_deep})
    snap = profile.snapshot()
    assert time.process_time() - started < 5.0  # depth 8, 20 items per array: ~20^8 bound
    paths = [f["path"] for f in snap["fields"]]
    assert max(p.count(".") + p.count("[]") for p in paths) <= 9
    assert "deep.a.a.a.a.a.a.a.a" in paths and "deep.a.a.a.a.a.a.a.a.a" not in paths


def test_one_megabyte_records_are_bounded() -> None:
    profile = StreamProfile("s", max_fields=100)
    big_text = ("lorem ipsum dolor " * 60_000)[:1_048_576]
    many_keys = {f"k{i}": i for i in range(60_000)}  # ~1 MB of JSON
    started = time.process_time()
    for _ in range(3):
        profile.learn_one({"text": big_text + " ana@example.com"})
        profile.learn_one(many_keys)
    snap = profile.snapshot()
    assert time.process_time() - started < 20.0
    assert len(snap["fields"]) == 100
    assert snap["overflow"]["values"] == 3 * (60_000 - 99)
    text = next(f for f in snap["fields"] if f["path"] == "text")
    # PII is looked for in the first 4096 characters; kept samples are cut to 200
    assert text["pii"] == {} and len(text["top_values"][0]["value"]) <= 100
