"""The compiled checks agree with jsonschema on what is valid, and on where and why not."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.contracts import export_contract, load_contract_text, to_yaml
from streamguard.contracts.compiled import compile_schema
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 4, "pattern": "^[a-z]"},
        "n": {"type": ["integer", "null"], "minimum": 1, "exclusiveMaximum": 10},
        "x": {"type": "number", "multipleOf": 0.5, "enum": [0.5, 1, 2.5]},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2},
        "obj": {"type": "object", "required": ["k"], "properties": {"k": {"const": 1}}},
    },
    "allOf": [
        {
            "if": {"properties": {"flag": {"const": True}}, "required": ["flag"]},
            "then": {"required": ["n"], "properties": {"n": {"not": {"type": "null"}}}},
        },
    ],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.sampled_from([0.5, 1.0, 2.5, 3.7]),
    st.sampled_from(["", "a", "abcde", "A1", "b"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["k", "z"]), inner, max_size=2)
    ),
    max_leaves=6,
)
records = st.dictionaries(
    st.sampled_from(["id", "n", "x", "flag", "tags", "obj", "other"]), values, max_size=6
)


def _located(errors: Any) -> set[tuple[tuple[Any, ...], str]]:
    return {(tuple(e.path), e.keyword) for e in errors}


@settings(max_examples=400, deadline=None)
@given(records)
def test_the_compiled_checks_find_what_jsonschema_finds(record: dict[str, Any]) -> None:
    check = compile_schema(SCHEMA)
    reference = jsonschema.Draft202012Validator(SCHEMA)
    want = {(tuple(e.absolute_path), str(e.validator)) for e in reference.iter_errors(record)}
    assert _located(check(record)) == want


@pytest.mark.parametrize("stream", ["behavior", "product"])
def test_the_exported_contracts_agree_with_jsonschema_on_the_fault_mix(stream: str) -> None:
    contract = load_contract_text(to_yaml(export_contract(stream)), "c.yaml")[0]
    check = compile_schema(contract.json_schema)
    reference = jsonschema.Draft202012Validator(contract.json_schema)
    faults = FaultMix.uniform(0.6, stream)  # type: ignore[arg-type]
    for generated in generate(stream, 1500, seed=13, faults=faults):
        try:
            record = orjson.loads(generated.value)
        except orjson.JSONDecodeError:
            continue
        want = {(tuple(e.absolute_path), str(e.validator)) for e in reference.iter_errors(record)}
        assert _located(check(record)) == want, generated.fault


def test_messages_are_made_when_read() -> None:
    (error,) = compile_schema({"type": "integer", "maximum": 3})(7)
    assert (error.keyword, error.message) == ("maximum", "7 is greater than the maximum of 3")
