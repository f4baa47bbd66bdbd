"""Decoding raw message values: bytes in, a JSON object or a quarantine reason out.

Never raises on input: anything that is not a JSON object within the size limit becomes
a :class:`~streamguard.events.records.Reason`.

Examples
--------
>>> decode_object(b'{"a": 1}', max_bytes=1024)
{'a': 1}
>>> decode_object(b"[1, 2]", max_bytes=1024)
Reason(code='not_an_object', field=None, message='JSON value is a list, not an object')
>>> decode_object(b"\\xff{", max_bytes=1024).code
'decode_error'
"""

from __future__ import annotations

from typing import Any

import orjson

from streamguard.events.records import Reason

__all__ = ["decode_object", "encode_record"]


def decode_object(raw: bytes | None, *, max_bytes: int) -> dict[str, Any] | Reason:
    """Decode one message value into a dict, or say why it cannot be decoded."""
    if raw is None:
        return Reason("decode_error", None, "message has no value (tombstone)")
    if len(raw) > max_bytes:
        return Reason("too_large", None, f"value is {len(raw)} bytes, limit {max_bytes}")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson's message names the position; the input itself is never echoed here.
        return Reason("decode_error", None, f"not valid UTF-8 JSON: {exc}"[:300])
    if not isinstance(value, dict):
        return Reason("not_an_object", None, f"JSON value is a {_json_type(value)}, not an object")
    return value


def encode_record(record: dict[str, Any]) -> bytes | Reason:
    """Serialize an output record; a record too deep to serialize becomes a Reason."""
    try:
        return orjson.dumps(record)
    except (orjson.JSONEncodeError, TypeError) as exc:
        return Reason("invalid_value", None, f"record cannot be re-encoded: {exc}"[:300])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list"
