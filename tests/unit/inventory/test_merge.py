"""Serialising profiles and partials, collecting the latest partial per worker, merging."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.inventory import StreamProfile
from streamguard.inventory.lineage import Lineage
from streamguard.inventory.merge import (
    Partial,
    PartialSet,
    decode_partial,
    encode_partial,
    merge_partials,
    partial_key,
    split_key,
)
from streamguard.inventory.wire import decode_profile, encode_profile


def _records(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"u{offset + i}",
            "price": (offset + i) / 10,
            "meta": {"tags": ["a", f"t{i % 3}"], "flag": i % 2 == 0},
            "note": "write to ana@example.com" if i % 10 == 0 else None,
        }
        for i in range(n)
    ]


def _profile(records: list[dict[str, Any]], **kwargs: Any) -> StreamProfile:
    profile = StreamProfile("s", source="topic.s", schema="s.v1", **kwargs)
    for record in records:
        profile.learn_one(record)
    return profile


def _partial(worker: str, at: float, records: list[dict[str, Any]]) -> Partial:
    lineage = Lineage()
    lineage.count("s.clean", "clean", len(records))
    return Partial("s", worker, at, len(records), lineage, _profile(records))


@pytest.mark.parametrize("n", [0, 10, 3000])  # empty; exact; past the exact limits
def test_a_profile_round_trips_to_the_same_snapshot(n: int) -> None:
    profile = _profile(_records(n), declared=frozenset({"id", "price"}))
    profile.learn_one("not an object")
    restored = decode_profile(encode_profile(profile))
    assert restored.snapshot() == profile.snapshot()
    restored.learn_one({"id": "late"})  # a restored profile keeps learning
    assert restored.records == n + 2


def test_the_overflow_paths_survive_the_round_trip() -> None:
    profile = _profile([{f"k{i}": i for i in range(20)}], max_fields=5)
    restored = decode_profile(encode_profile(profile))
    assert restored.snapshot()["overflow"] == profile.snapshot()["overflow"]
    assert restored.snapshot()["overflow"]["values"] == 15


def test_merging_two_halves_equals_profiling_the_whole() -> None:
    first, second = _records(500), _records(500, offset=500)
    merged = merge_partials([_partial("w1", 1.0, first), _partial("w2", 2.0, second)])
    whole = _profile(first + second).snapshot()
    snap = merged.profile.snapshot()
    assert merged.seen == 1000 and merged.published_at == 2.0
    assert snap["records"] == whole["records"] == 1000
    by_path = {f["path"]: f for f in snap["fields"]}
    whole_by_path = {f["path"]: f for f in whole["fields"]}
    assert by_path["price"]["numeric"] == whole_by_path["price"]["numeric"]
    assert by_path["note"]["pii"] == whole_by_path["note"]["pii"] == {"email": 0.1}
    assert abs(by_path["id"]["distinct_estimate"] - 1000) <= 40
    assert merged.lineage.records("s.clean") == 1000


def test_merge_leaves_its_inputs_alone() -> None:
    a, b = _partial("w1", 1.0, _records(30)), _partial("w2", 1.0, _records(20))
    before = (a.profile.snapshot(), b.profile.snapshot(), a.lineage.to_dict())
    merge_partials([a, b])
    assert (a.profile.snapshot(), b.profile.snapshot(), a.lineage.to_dict()) == before
    with pytest.raises(ValueError, match="nothing"):
        merge_partials([])


def test_a_partial_round_trips_through_its_topic_value() -> None:
    partial = _partial("host-1-42-abc", 1700000000.5, _records(50))
    value = encode_partial(partial)
    data = orjson.loads(value)
    assert data["kind"] == "inventory_partial" and data["seen"] == 50
    back = decode_partial(value)
    assert (back.stream, back.worker, back.published_at, back.seen) == (
        "s",
        "host-1-42-abc",
        1700000000.5,
        50,
    )
    assert back.lineage.to_dict() == partial.lineage.to_dict()
    assert back.profile.snapshot() == partial.profile.snapshot()


def _corrupt_values() -> list[bytes]:
    good = orjson.loads(encode_partial(_partial("w", 1.0, _records(20))))
    blob = base64.b64decode(good["profile"])
    state = orjson.loads(zlib.decompress(blob))
    hll_broken = orjson.loads(orjson.dumps(state))
    field = hll_broken["$d"]["_fields"]["$d"]["id"]["$field"]["$d"]
    field["_hll"] = {"$b": base64.b64encode(b"\x00\x01garbage").decode()}
    evil = orjson.loads(orjson.dumps(state))
    evil["$d"]["_fields"] = {"$pickle": "os.system"}

    def with_profile(state: Any) -> bytes:
        raw = base64.b64encode(zlib.compress(orjson.dumps(state))).decode()
        return orjson.dumps({**good, "profile": raw})

    return [
        b"",
        b"not json",
        b"[]",
        orjson.dumps({**good, "kind": "something else"}),
        orjson.dumps({k: v for k, v in good.items() if k != "seen"}),
        orjson.dumps({**good, "seen": "many"}),
        orjson.dumps({**good, "lineage": {"t": {"role": "nope", "records": 1}}}),
        orjson.dumps({**good, "profile": "!!!"}),
        orjson.dumps({**good, "profile": base64.b64encode(blob[:-20]).decode()}),
        orjson.dumps({**good, "profile": base64.b64encode(b"x" * 50).decode()}),
        with_profile(hll_broken),
        with_profile(evil),
        with_profile({"$d": {"stream": 1}}),
        with_profile([1, 2]),
    ]


@pytest.mark.parametrize("value", _corrupt_values())
def test_unreadable_partials_are_rejected_not_raised(value: bytes) -> None:
    with pytest.raises(ValueError):
        decode_partial(value)
    parts = PartialSet()
    assert parts.add("s/w", value) is False
    assert parts.rejected == 1


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_no_bytes_crash_the_decoder(value: bytes) -> None:
    with pytest.raises(ValueError):
        decode_partial(value)


def test_the_partial_set_keeps_each_workers_latest_and_applies_the_ttl() -> None:
    parts = PartialSet()
    older, newer = _partial("w1", 10.0, _records(5)), _partial("w1", 20.0, _records(8))
    assert parts.add(partial_key("s", "w1"), encode_partial(newer)) is True
    assert parts.add(partial_key("s", "w1"), encode_partial(older)) is False  # out of order
    assert parts.add(partial_key("s", "w2"), encode_partial(_partial("w2", 5.0, _records(3))))
    assert parts.add("s", b'{"stream": "s"}') is False  # a stream's own entry
    assert parts.add(partial_key("s", "w3"), None) is False  # a tombstone
    assert parts.streams() == {"s"}
    current = parts.current("s", now=21.0, ttl_s=100.0)
    assert [(p.worker, p.seen) for p in current] == [("w1", 8), ("w2", 3)]
    assert [p.worker for p in parts.current("s", now=21.0, ttl_s=100.0, exclude="w1")] == ["w2"]
    assert [p.worker for p in parts.current("s", now=21.0, ttl_s=10.0)] == ["w1"]
    assert parts.current("other", now=21.0, ttl_s=100.0) == []


def test_partial_keys_are_told_from_stream_keys() -> None:
    key = partial_key("behavior", "pod/7")
    assert "/" in key and split_key(key) == ("behavior", "pod_7")
    assert split_key("behavior") is None
    assert split_key("/w") is None and split_key("s/") is None
