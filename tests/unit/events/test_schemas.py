"""schemas/*.json: generated from the pydantic models, and agreeing with them."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.protocols import Validator
from pydantic import BaseModel, ValidationError

from streamguard.events.models import BehaviorEvent, ProductEvent
from streamguard.events.records import SourcePosition
from streamguard.events.schema_files import SCHEMAS, render, schema_for, write_all
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.sources.synthetic import generate
from tests.unit.factories import purchase, upsert

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
MODELS: dict[StreamName, type[BaseModel]] = {"behavior": BehaviorEvent, "product": ProductEvent}
FILES: dict[StreamName, str] = {"behavior": "behavior.v1.json", "product": "product.v1.json"}

# RFC 3339 date-time (jsonschema checks "format" only with an optional extra installed).
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(_RFC3339.match(value)))


@functools.cache
def validator(stream: StreamName) -> Validator:
    schema = orjson.loads((SCHEMA_DIR / FILES[stream]).read_bytes())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=FORMATS)


def schema_accepts(stream: StreamName, event: dict[str, Any]) -> bool:
    return validator(stream).is_valid(event)


def model_accepts(stream: StreamName, event: dict[str, Any]) -> bool:
    try:
        MODELS[stream].model_validate(event)
    except ValidationError:
        return False
    return True


# --- the files are what the models generate ------------------------------------------


def test_every_schema_file_is_listed() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(SCHEMAS)
    assert set(FILES.values()) == set(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_file_matches_the_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_bytes()
    assert committed == render(name), (
        f"schemas/{name} is stale: run `python -m streamguard.events.schema_files`"
    )


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_declares_draft_2020_12_and_is_a_valid_schema(name: str) -> None:
    schema = schema_for(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(name)
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is True  # unknown fields pass through


def test_required_fields_match_the_models() -> None:
    for stream, model in MODELS.items():
        schema = schema_for(FILES[stream])
        required = {name for name, info in model.model_fields.items() if info.is_required()}
        assert set(schema["required"]) == required
        assert set(schema["properties"]) == set(model.model_fields)


def test_write_all_writes_the_same_bytes(tmp_path: Path) -> None:
    written = write_all(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(SCHEMAS)
    for path in written:
        assert path.read_bytes() == (SCHEMA_DIR / path.name).read_bytes()


# --- generated records against the JSON Schema ---------------------------------------


@pytest.mark.parametrize("stream", ["behavior", "product"])
def test_generated_valid_records_conform(stream: StreamName) -> None:
    check = validator(stream)
    pipeline = RecordPipeline(stream, clock=lambda: 1_800_000_000.0)
    for offset, record in enumerate(generate(stream, 400, seed=12)):
        event = orjson.loads(record.value)
        errors = [e.message for e in check.iter_errors(event)]
        assert errors == [], (event, errors)
        # The clean record (ts normalised, _dq added) conforms too.
        outcome = pipeline.process(record.value, SourcePosition("t", 0, offset))
        assert outcome.record is not None
        assert check.is_valid(outcome.record)


def test_schema_of_a_clean_catalogue_with_deletes_and_searches() -> None:
    records = [
        orjson.loads(r.value)
        for r in generate("both", 3000, seed=2, catalogue_size=50, product_share=0.5)
    ]
    types = {e.get("event_type") or e.get("op") for e in records}
    assert {"search", "purchase", "delete", "upsert"} <= types
    for event in records:
        stream: StreamName = "product" if "op" in event else "behavior"
        assert schema_accepts(stream, event), event


# --- what pydantic rejects, the JSON Schema rejects ----------------------------------

BEHAVIOR = purchase(quantity=1)
SEARCH = {
    "event_id": "e-2",
    "event_type": "search",
    "user_id": "u-1",
    "query": "kettle",
    "ts": 1_800_000_000_000,
}
PRODUCT = upsert(title=None, schema_version=None, ts="2026-11-01T10:00:00.123+02:00")
VALID: list[tuple[StreamName, dict[str, Any]]] = [
    ("behavior", BEHAVIOR),
    ("behavior", SEARCH),
    ("product", PRODUCT),
]
_DROP = object()


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = {**base, **changes}
    return {k: v for k, v in event.items() if v is not _DROP}


REJECTED: list[tuple[StreamName, dict[str, Any]]] = [
    *[("behavior", changed(BEHAVIOR, **{n: _DROP})) for n in ("event_id", "event_type")],
    *[("behavior", changed(BEHAVIOR, **{n: _DROP})) for n in ("user_id", "ts")],
    *[("product", changed(PRODUCT, **{n: _DROP})) for n in ("event_id", "product_id", "op", "ts")],
    ("behavior", changed(BEHAVIOR, event_id=None)),
    ("behavior", changed(BEHAVIOR, price=-1)),
    ("behavior", changed(BEHAVIOR, quantity=0)),
    ("behavior", changed(BEHAVIOR, event_type="teleport")),
    ("behavior", changed(BEHAVIOR, event_type="view", product_id=_DROP)),
    ("behavior", changed(BEHAVIOR, event_type="view", product_id=None)),
    ("behavior", changed(BEHAVIOR, product_id=_DROP)),
    ("behavior", changed(SEARCH, query=_DROP)),
    ("behavior", changed(SEARCH, query=None)),
    *[("behavior", changed(BEHAVIOR, **{n: _DROP})) for n in ("price", "currency", "quantity")],
    *[("behavior", changed(BEHAVIOR, **{n: None})) for n in ("price", "currency", "quantity")],
    ("behavior", changed(BEHAVIOR, event_type="add_to_cart", price=_DROP)),
    ("behavior", changed(BEHAVIOR, platform="windows")),
    ("behavior", changed(BEHAVIOR, currency="usd")),
    ("behavior", changed(BEHAVIOR, user_id=42)),
    ("behavior", changed(BEHAVIOR, quantity=True)),
    ("behavior", changed(BEHAVIOR, price="12.5")),
    ("behavior", changed(BEHAVIOR, ts="2026-11-01T10:00:00")),
    ("behavior", changed(BEHAVIOR, ts=1_800_000_000)),
    ("product", changed(PRODUCT, price=-0.5)),
    ("product", changed(PRODUCT, stock=-1)),
    ("product", changed(PRODUCT, op="merge")),
    ("product", changed(PRODUCT, category="home//kitchen")),
    ("product", changed(PRODUCT, attributes=["red"])),
    # Blind spots the mutation pool used to miss (schema and model disagreed or both let
    # them through): ISO 8601 forms RFC 3339 excludes, fractional epoch millis, currencies
    # outside ISO 4217.
    ("behavior", changed(BEHAVIOR, ts="20261101T100000Z")),
    ("behavior", changed(BEHAVIOR, ts="2026-W44-7T10:00:00Z")),
    ("behavior", changed(BEHAVIOR, ts="2026-11-01 10:00:00Z")),
    ("behavior", changed(BEHAVIOR, ts="2026-11-01T10:00Z")),
    ("behavior", changed(BEHAVIOR, ts="2026-11-01T10:00:00+0530")),
    ("behavior", changed(BEHAVIOR, ts=1.8e12 + 0.5)),
    ("behavior", changed(BEHAVIOR, currency="XYZ")),
    ("product", changed(PRODUCT, currency="ABC")),
]

#: JSON Schema's ``integer`` includes whole floats, so the model takes them too.
ACCEPTED_BY_BOTH: list[tuple[StreamName, dict[str, Any]]] = [
    ("behavior", changed(BEHAVIOR, quantity=2.0)),
    ("behavior", changed(BEHAVIOR, ts=1.8e12)),
    ("behavior", changed(BEHAVIOR, ts="2026-11-01t10:00:00.123z")),
    ("product", changed(PRODUCT, stock=3.0)),
    ("product", changed(PRODUCT, currency="BRL")),
]


@pytest.mark.parametrize(("stream", "event"), ACCEPTED_BY_BOTH)
def test_what_the_schema_accepts_the_model_accepts(
    stream: StreamName, event: dict[str, Any]
) -> None:
    assert schema_accepts(stream, event)
    assert model_accepts(stream, event)


def test_valid_examples_are_accepted_by_both() -> None:
    for stream, event in VALID:
        assert model_accepts(stream, event)
        assert schema_accepts(stream, event)


@pytest.mark.parametrize(("stream", "event"), REJECTED)
def test_what_the_model_rejects_the_schema_rejects(
    stream: StreamName, event: dict[str, Any]
) -> None:
    assert not model_accepts(stream, event)
    assert not schema_accepts(stream, event)


_POOL = [
    None,
    "",
    "x",
    "USD",
    "usd",
    -1,
    0,
    1,
    2.5,
    1_000_001,
    True,
    [],
    {},
    {"k": 1},
    "view",
    "search",
    "purchase",
    "add_to_cart",
    "teleport",
    "ios",
    "upsert",
    "delete",
    "merge",
    "a/b",
    "a//b",
    1_800_000_000_000,
    1_800_000_000,
    "2026-11-01T10:00:00Z",
    "2026-11-01T10:00:00.5+05:30",
    "2026-11-01T10:00:00",
    "20261101T100000Z",
    "2026-W44-7T10:00:00Z",
    "2026-11-01 10:00:00Z",
    "2026-11-01t10:00:00z",
    2.0,
    1.8e12,
    1.8e12 + 0.5,
    "EUR",
    "XYZ",
]
_FIELDS = {
    "behavior": [*BehaviorEvent.model_fields, "extra"],
    "product": [*ProductEvent.model_fields, "extra"],
}
_mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=50), st.sampled_from([_DROP, *_POOL])),
    min_size=1,
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(VALID),
    _mutations,
)
def test_model_and_schema_agree_on_mutated_events(
    base: tuple[StreamName, dict[str, Any]], mutations: list[tuple[int, Any]]
) -> None:
    stream, event = base[0], dict(base[1])
    fields = _FIELDS[stream]
    for index, value in mutations:
        name = fields[index % len(fields)]
        if value is _DROP:
            event.pop(name, None)
        else:
            event[name] = value
    assert model_accepts(stream, event) == schema_accepts(stream, event), event
