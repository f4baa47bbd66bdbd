"""StreamProfile on synthetic records with known answers; bounded memory; merge; pickle."""

from __future__ import annotations

import pickle

from streamguard.inventory import StreamProfile


def _fields(profile: StreamProfile) -> dict[str, dict]:  # type: ignore[type-arg]
    return {f["path"]: f for f in profile.snapshot()["fields"]}


def test_presence_types_quantiles_and_distinct() -> None:
    profile = StreamProfile("s")
    for i in range(1000):
        record: dict[str, object] = {"n": i, "tag": f"t{i % 10}"}
        if i % 4 == 0:
            record["opt"] = None if i % 8 == 0 else 1.5
        profile.learn_one(record)
    for junk in (1, "x", [1, 2]):
        profile.learn_one(junk)
    snap = profile.snapshot()
    assert (snap["records"], snap["objects"]) == (1003, 1000)
    fields = _fields(profile)
    assert fields["n"]["presence"] == 1.0 and fields["n"]["types"] == {"integer": 1.0}
    assert fields["n"]["numeric"] == {"min": 0.0, "p50": 500.0, "p99": 989.0, "max": 999.0}
    assert abs(fields["n"]["distinct_estimate"] - 1000) <= 40
    assert fields["opt"]["presence"] == 0.25
    assert fields["opt"]["types"] == {"float": 0.5, "null": 0.5}
    assert fields["tag"]["distinct_estimate"] == 10
    assert fields["tag"]["top_values"][0] == {"value": "t0", "share": 0.1}


def test_quantiles_past_the_exact_limit_come_from_kll() -> None:
    profile = StreamProfile("s")
    for i in range(20_000):
        profile.learn_one({"x": float(i)})
    numeric = _fields(profile)["x"]["numeric"]
    assert numeric["min"] == 0.0 and numeric["max"] == 19_999.0
    assert abs(numeric["p50"] - 10_000) < 20_000 * 0.05
    assert abs(numeric["p99"] - 19_800) < 20_000 * 0.05


def test_nested_paths_and_arrays_are_bounded() -> None:
    profile = StreamProfile("s", max_array_items=3, max_depth=2)
    profile.learn_one({"a": {"b": {"c": {"d": 1}}}, "tags": list(range(100))})
    fields = _fields(profile)
    assert "a.b.c" in fields and "a.b.c.d" not in fields  # depth limit
    tags = fields["tags[]"]
    assert tags["presence"] == 1.0 and tags["distinct_estimate"] == 3  # first 3 items


def test_bounded_memory_with_10000_unique_keys() -> None:
    profile = StreamProfile("s", max_fields=50)
    for i in range(10_000):
        profile.learn_one({f"key_{i}": i, "id": i})
    snap = profile.snapshot()
    assert len(snap["fields"]) == 50
    assert snap["overflow"]["values"] == 10_000 - 49
    assert abs(snap["overflow"]["fields_estimate"] - 9951) < 9951 * 0.1
    assert len(pickle.dumps(profile)) < 50 * 40_000


def test_merge_covers_both_halves_and_pickles() -> None:
    whole, left, right = StreamProfile("s"), StreamProfile("s"), StreamProfile("s")
    for i in range(400):
        record = {"x": i, "name": f"n{i % 7}"}
        whole.learn_one(record)
        (left if i % 2 else right).learn_one(record)
    left.merge(pickle.loads(pickle.dumps(right)))
    merged, expected = _fields(left), _fields(whole)
    assert left.snapshot()["records"] == 400
    assert merged["x"]["numeric"] == expected["x"]["numeric"]
    assert merged["name"]["top_values"] == expected["name"]["top_values"]
    assert merged["x"]["presence"] == 1.0


def test_known_stream_marks_declared_fields() -> None:
    profile = StreamProfile("behavior", schema="behavior.v1", declared=frozenset({"user_id"}))
    profile.learn_one({"user_id": "u1", "extra": {"k": 1}})
    fields = _fields(profile)
    assert fields["user_id"]["in_schema"] is True and fields["extra.k"]["in_schema"] is False
