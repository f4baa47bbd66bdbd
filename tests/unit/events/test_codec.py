"""Decoding raw values (codec) and the quarantine / timestamp formats (records)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.events.codec import decode_object, encode_record
from streamguard.events.records import (
    REASON_CODES,
    TRUNCATED_RAW_BYTES,
    Reason,
    SourcePosition,
    format_ts,
    quarantine_value,
)

LIMIT = 1_048_576
SRC = SourcePosition("events.behavior", 2, 17)
AT = "2026-01-01T00:00:00.000Z"

# JSON values orjson can round-trip exactly (64-bit ints, finite floats, no surrogates).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def nested(depth: int) -> bytes:
    """A JSON object whose ``x`` field is ``depth`` levels of nested lists."""
    return b'{"x": ' + b"[" * depth + b"]" * depth + b"}"


# --- decode_object -------------------------------------------------------------------


def test_decodes_an_object() -> None:
    assert decode_object(b'{"a": 1, "b": {"c": [true, null]}}', max_bytes=LIMIT) == {
        "a": 1,
        "b": {"c": [True, None]},
    }


def test_tombstone_is_a_decode_error() -> None:
    reason = decode_object(None, max_bytes=LIMIT)
    assert isinstance(reason, Reason)
    assert reason.code == "decode_error"
    assert reason.field is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"a": 1',
        b'{"a": 1} trailing',
        b"\xff\xfe{}",
        b'{"name": "caf\xe9"}',  # latin-1 byte inside a string: invalid UTF-8
        b'{"price": NaN}',
        b'{"price": Infinity}',
        b'{"price": -Infinity}',
        b"{'single': 'quotes'}",
    ],
)
def test_undecodable_input_is_a_decode_error(raw: bytes) -> None:
    reason = decode_object(raw, max_bytes=LIMIT)
    assert isinstance(reason, Reason)
    assert reason.code == "decode_error"
    assert len(reason.message) <= 300


def test_decode_error_message_does_not_echo_the_input() -> None:
    reason = decode_object(b"password=hunter2-secret-token", max_bytes=LIMIT)
    assert isinstance(reason, Reason)
    assert "hunter2" not in reason.message


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[1, 2]", "list"),
        (b"[]", "list"),
        (b"42", "number"),
        (b"-1.5e3", "number"),
        (b'"text"', "string"),
        (b"true", "boolean"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object(raw: bytes, kind: str) -> None:
    reason = decode_object(raw, max_bytes=LIMIT)
    assert isinstance(reason, Reason)
    assert reason.code == "not_an_object"
    assert kind in reason.message


def test_size_limit_is_inclusive() -> None:
    raw = b'{"a": "' + b"x" * 91 + b'"}'
    assert len(raw) == 100
    assert decode_object(raw, max_bytes=100) == {"a": "x" * 91}
    reason = decode_object(raw, max_bytes=99)
    assert isinstance(reason, Reason)
    assert reason.code == "too_large"
    assert "100" in reason.message and "99" in reason.message


def test_size_limit_is_checked_before_parsing() -> None:
    # Oversized garbage is too_large, not decode_error: the size is the first problem.
    reason = decode_object(b"\xff" * 2000, max_bytes=1024)
    assert isinstance(reason, Reason)
    assert reason.code == "too_large"


def test_deep_nesting_within_orjson_limit_decodes() -> None:
    value = decode_object(nested(300), max_bytes=LIMIT)
    assert isinstance(value, dict)
    depth, node = 0, value["x"]
    while node:
        node, depth = node[0], depth + 1
    assert depth == 299  # 300 lists, the innermost empty


def test_nesting_beyond_orjson_limit_is_a_decode_error() -> None:
    reason = decode_object(nested(1100), max_bytes=LIMIT)
    assert isinstance(reason, Reason)
    assert reason.code == "decode_error"


# --- encode_record -------------------------------------------------------------------


def test_encode_record_round_trips() -> None:
    record = {"a": 1, "b": [1.5, None, {"c": "d"}], "é": "ü"}
    value = encode_record(record)
    assert isinstance(value, bytes)
    assert orjson.loads(value) == record


def test_encode_record_too_deep_is_a_reason_not_a_crash() -> None:
    record = decode_object(nested(300), max_bytes=LIMIT)
    assert isinstance(record, dict)
    reason = encode_record(record)
    assert isinstance(reason, Reason)
    assert reason.code == "invalid_value"


def test_encode_record_unserializable_value_is_a_reason() -> None:
    reason = encode_record({"x": object()})
    assert isinstance(reason, Reason)
    assert reason.code == "invalid_value"


# --- quarantine_value ----------------------------------------------------------------


def _quarantine(raw: bytes | None, **kwargs: Any) -> dict[str, Any]:
    reasons = (Reason("decode_error", None, "bad"), Reason("missing_field", "ts", "ts missing"))
    document: dict[str, Any] = orjson.loads(quarantine_value(raw, SRC, reasons, AT, **kwargs))
    return document


def test_quarantine_record_format_utf8() -> None:
    document = _quarantine(b'{"a": "\xc3\xa9"')
    assert document == {
        "source": {"topic": "events.behavior", "partition": 2, "offset": 17},
        "raw": '{"a": "é"',
        "encoding": "utf-8",
        "reasons": [
            {"code": "decode_error", "field": None, "message": "bad"},
            {"code": "missing_field", "field": "ts", "message": "ts missing"},
        ],
        "received_at": AT,
    }


def test_quarantine_record_base64_when_not_utf8() -> None:
    raw = b"\x00\xff\xfe binary"
    document = _quarantine(raw)
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["raw"]) == raw
    assert "truncated" not in document


def test_quarantine_record_of_a_tombstone_is_empty_text() -> None:
    document = _quarantine(None)
    assert document["raw"] == ""
    assert document["encoding"] == "utf-8"


def test_quarantine_record_truncates_oversized_raw() -> None:
    raw = b"y" * (TRUNCATED_RAW_BYTES * 3)
    document = _quarantine(raw, max_raw_bytes=TRUNCATED_RAW_BYTES * 2)
    assert document["truncated"] is True
    assert document["size"] == len(raw)
    assert document["raw"] == "y" * TRUNCATED_RAW_BYTES


def test_quarantine_record_not_truncated_within_limit() -> None:
    raw = b"z" * (TRUNCATED_RAW_BYTES * 2)
    document = _quarantine(raw, max_raw_bytes=len(raw))
    assert "truncated" not in document and "size" not in document
    assert document["raw"] == raw.decode()


def test_truncation_inside_a_multibyte_char_falls_back_to_base64() -> None:
    raw = b"a" + "é".encode() * TRUNCATED_RAW_BYTES  # the cut splits a 2-byte char
    document = _quarantine(raw, max_raw_bytes=1024)
    assert document["truncated"] is True
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["raw"]) == raw[:TRUNCATED_RAW_BYTES]


# --- format_ts -----------------------------------------------------------------------


def test_format_ts_converts_to_utc_with_millis() -> None:
    moment = datetime(2026, 11, 1, 11, 30, 0, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(moment) == "2026-11-01T10:30:00.999Z"


def test_format_ts_pads_small_years() -> None:
    assert format_ts(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05.000Z"


# --- properties ----------------------------------------------------------------------


def _check_decoded(raw: bytes, result: dict[str, Any] | Reason) -> None:
    if isinstance(result, Reason):
        assert result.code in REASON_CODES
        assert isinstance(result.message, str) and result.message
    else:
        assert isinstance(result, dict)
        assert orjson.loads(raw) == result


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _check_decoded(raw, decode_object(raw, max_bytes=100))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_decode_of_any_json_value(value: Any) -> None:
    raw = orjson.dumps(value)
    result = decode_object(raw, max_bytes=LIMIT)
    if isinstance(value, dict):
        assert result == value
    else:
        assert isinstance(result, Reason)
        assert result.code == "not_an_object"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=400))
def test_quarantine_raw_round_trips(raw: bytes, limit: int) -> None:
    reasons = (Reason("decode_error", None, "x"),)
    document = orjson.loads(quarantine_value(raw, SRC, reasons, AT, max_raw_bytes=limit))
    data = (
        document["raw"].encode("utf-8")
        if document["encoding"] == "utf-8"
        else base64.b64decode(document["raw"], validate=True)
    )
    if len(raw) > limit:
        assert document["truncated"] is True
        assert document["size"] == len(raw)
        assert data == raw[:TRUNCATED_RAW_BYTES]
    else:
        assert "truncated" not in document
        assert data == raw
