"""Hostile input through the whole pipeline: never a crash, never a hang, never a silent
drop, memory bounded. Every record gets exactly one outcome, and a quarantined one
always carries at least one reason from the fixed vocabulary."""

from __future__ import annotations

import ast
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard.events.records import REASON_CODES, Outcome, SourcePosition
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.validate.dedupe import DedupeIndex
from tests.unit.factories import purchase, upsert

MAX_BYTES = 1_048_576
#: Generous per-record bound on a loaded 2-core CI machine; typical is ~30 µs.
PER_RECORD_BOUND_S = 0.5
SRC = SourcePosition("events.behavior", 0, 0)
REPO = Path(__file__).resolve().parents[3]


def run(stream: StreamName, raw: bytes | None) -> Outcome:
    pipeline = RecordPipeline(
        stream, max_record_bytes=MAX_BYTES, dedupe=DedupeIndex(86_400.0, 10_000)
    )
    started = time.perf_counter()
    outcome = pipeline.process(raw, SRC)
    assert time.perf_counter() - started < PER_RECORD_BOUND_S
    assert outcome.source == SRC
    if outcome.is_clean:
        clean = orjson.loads(outcome.value)
        assert clean["_dq"]["source"] == SRC.as_dict()
    else:
        assert outcome.reasons, "a quarantined record must say why"
        assert {r.code for r in outcome.reasons} <= set(REASON_CODES)
        quarantined = orjson.loads(outcome.value)
        assert quarantined["source"] == SRC.as_dict()
    return outcome


@pytest.mark.parametrize("stream", ["behavior", "product"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=2_000))
def test_arbitrary_bytes(stream: StreamName, raw: bytes) -> None:
    run(stream, raw)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_hostile_keys = st.sampled_from(
    ["__proto__", "constructor", "prototype", "__class__", "$where", "", " ", "\x00", "é"]
)


@pytest.mark.parametrize(("stream", "base"), [("behavior", purchase()), ("product", upsert())])
@settings(max_examples=150, deadline=None)
@given(overrides=st.dictionaries(st.sampled_from(list(purchase()) + list(upsert())), _values))
def test_any_json_values_in_known_fields(
    stream: StreamName, base: dict[str, Any], overrides: dict[str, Any]
) -> None:
    run(stream, orjson.dumps({**base, **overrides}))


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(_hostile_keys, _values, min_size=1))
def test_prototype_pollution_style_keys_pass_through_as_plain_data(
    extra: dict[str, Any],
) -> None:
    outcome = run("behavior", orjson.dumps({**purchase(), **extra}))
    assert outcome.is_clean
    clean = orjson.loads(outcome.value)
    assert {k: clean[k] for k in extra} == extra  # untouched, not interpreted


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id": "e", "price": NaN}',
        b'{"event_id": "e", "price": Infinity}',
        b'{"event_id": "e", "price": -Infinity}',
        b'{"event_id": "e", "price": 1e400}',
        b'{"event_id": "e", "price": 1' + b"0" * 5_000 + b"}",
        b'{"event_id": "\xff\xfe"}',
        b'{"event_id": "\xed\xa0\x80"}',  # a lone surrogate, encoded
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b"\x00" * 1_000,
        b"",
        None,
    ],
    ids=lambda raw: repr(raw[:24]) if raw is not None else "tombstone",
)
def test_malformed_values_are_quarantined_with_a_reason(raw: bytes | None) -> None:
    outcome = run("behavior", raw)
    assert outcome.status == "quarantine"


def test_huge_numbers_in_range_are_judged_not_crashed() -> None:
    raw = orjson.dumps(purchase(price=1.7e308))[:-1] + b',"quantity":18446744073709551616}'
    outcome = run("behavior", raw)  # 2**64 parses as a float: integral, so repaired
    assert outcome.status in ("corrected", "quarantine")


def test_deep_nesting_inside_an_extra_field() -> None:
    nested: Any = 1
    for _ in range(200):
        nested = {"x": nested}
    outcome = run("behavior", orjson.dumps({**purchase(), "extra": nested}))
    assert outcome.is_clean


def test_duplicate_keys_last_wins_and_clean_output_is_unambiguous() -> None:
    # A parser differential (first key vs last key) cannot reach consumers: the clean
    # record is re-serialized from what was validated, with one copy of each key.
    raw = orjson.dumps(purchase(price=5.0))[:-1] + b',"price":-1}'
    assert run("behavior", raw).status == "quarantine"  # judged on the last value
    raw = orjson.dumps(purchase(price=-1.0))[:-1] + b',"price":5.0}'
    outcome = run("behavior", raw)
    assert outcome.is_clean
    assert outcome.value.count(b'"price"') == 1
    assert orjson.loads(outcome.value)["price"] == 5.0


@pytest.mark.parametrize("size", [MAX_BYTES + 1, 10 * 1024 * 1024])
def test_oversized_values_are_too_large_with_a_truncated_copy_and_bounded_memory(
    size: int,
) -> None:
    filler = b"x" * (size - len(b'{"event_id": "e", "title": ""}'))
    raw = b'{"event_id": "e", "title": "' + filler + b'"}'
    assert len(raw) == size
    tracemalloc.start()
    try:
        outcome = run("product", raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.code for r in outcome.reasons] == ["too_large"]
    quarantined = orjson.loads(outcome.value)
    assert len(quarantined["raw"]) < 64 * 1024  # a truncated copy, not the 10 MB
    assert quarantined["raw"].startswith('{"event_id": "e"')
    # Never parsed: memory beyond the input itself stays small.
    assert peak < 1024 * 1024


def test_large_but_allowed_string_is_processed_in_bounded_time() -> None:
    blob = "é" * (MAX_BYTES // 4)  # an undeclared field: passes through untouched
    outcome = run("product", orjson.dumps({**upsert(), "blob": blob}))
    assert outcome.is_clean
    assert run("product", orjson.dumps(upsert(title=blob))).reasons[0].code == "invalid_value"


# --- no code path evaluates record content -------------------------------------------

_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
_FORBIDDEN_ATTRS = {
    ("pickle", "loads"),
    ("pickle", "load"),
    ("marshal", "loads"),
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
}


def test_no_eval_pickle_or_unsafe_yaml_in_the_package() -> None:
    offenders = []
    for path in sorted((REPO / "streamguard").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in _FORBIDDEN_CALLS:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {func.id}()")
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in _FORBIDDEN_ATTRS
            ):
                offenders.append(
                    f"{path.relative_to(REPO)}:{node.lineno} {func.value.id}.{func.attr}()"
                )
    assert offenders == []
