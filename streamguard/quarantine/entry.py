"""Reading quarantine records back: one JSON document in, a :class:`QuarantineEntry` out.

The format is DESIGN.md's quarantine record (``source``, ``raw`` + ``encoding``,
``reasons``, ``received_at``; ``truncated`` and ``size`` when only the head of an
oversized value was kept). Anything else is a :class:`BadEntry` with a reason code from
the quarantine vocabulary, never an uncaught exception.

Examples
--------
>>> entry = parse_entry(
...     b'{"source": {"topic": "events.behavior", "partition": 2, "offset": 7},'
...     b' "raw": "eyJhIjogMX0=", "encoding": "base64",'
...     b' "reasons": [{"code": "unknown_enum", "field": "event_type", "message": "x"}],'
...     b' "received_at": "2026-12-01T00:00:00.000Z"}'
... )
>>> entry.source
SourcePosition(topic='events.behavior', partition=2, offset=7)
>>> entry.raw, entry.codes, entry.complete
(b'{"a": 1}', ('unknown_enum',), True)
>>> source_key(entry.source)
'events.behavior/2/7'
>>> try:
...     parse_entry(b'{"raw": "x"}')
... except BadEntry as exc:
...     exc.code, exc.message
('missing_field', 'source: not an object with topic, partition, offset')
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from streamguard.events.records import Reason, SourcePosition

__all__ = ["BadEntry", "QuarantineEntry", "parse_entry", "source_key"]


class BadEntry(ValueError):
    """A line or message that is not a quarantine record: ``code`` and what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def reason(self) -> Reason:
        """The same as a quarantine :class:`~streamguard.events.records.Reason`."""
        return Reason(self.code, None, f"not a quarantine record: {self.message}"[:300])


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One quarantine record: where its record came from, its bytes, why it was held.

    ``document`` is the parsed JSON as read (kept records are written back from it).
    """

    source: SourcePosition
    raw: bytes
    reasons: tuple[Reason, ...]
    received_at: str | None
    truncated: bool
    size: int | None
    document: dict[str, Any]

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct reason codes, in order of first appearance."""
        return tuple(dict.fromkeys(reason.code for reason in self.reasons))

    @property
    def complete(self) -> bool:
        """True when ``raw`` holds every original byte (not a truncated head)."""
        return not self.truncated or self.size == len(self.raw)


def source_key(source: SourcePosition) -> str:
    """The identity of a source record as text: ``topic/partition/offset``.

    Kafka topic names cannot contain ``/``, so the key is unambiguous; it keys the
    compacted topic of replayed positions.
    """
    return f"{source.topic}/{source.partition}/{source.offset}"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _source(document: dict[str, Any]) -> SourcePosition:
    block = document.get("source")
    if not isinstance(block, dict):
        raise BadEntry("missing_field", "source: not an object with topic, partition, offset")
    topic = block.get("topic")
    partition, offset = _int(block.get("partition")), _int(block.get("offset"))
    if not isinstance(topic, str) or not topic:
        raise BadEntry("invalid_type", "source.topic: not a non-empty string")
    if partition is None or partition < 0:
        raise BadEntry("invalid_type", "source.partition: not an integer >= 0")
    if offset is None or offset < 0:
        raise BadEntry("invalid_type", "source.offset: not an integer >= 0")
    return SourcePosition(topic, partition, offset)


def _raw(document: dict[str, Any]) -> bytes:
    raw, encoding = document.get("raw"), document.get("encoding")
    if not isinstance(raw, str):
        raise BadEntry("missing_field", "raw: not a string")
    if encoding == "utf-8":
        return raw.encode("utf-8", "surrogatepass")
    if encoding == "base64":
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEntry("invalid_value", f"raw: not base64 ({exc})") from None
    raise BadEntry("invalid_value", f"encoding: {encoding!r} is not 'utf-8' or 'base64'")


def _reasons(document: dict[str, Any]) -> tuple[Reason, ...]:
    reasons = document.get("reasons")
    if not isinstance(reasons, list):
        raise BadEntry("missing_field", "reasons: not a list")
    parsed = []
    for item in reasons:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise BadEntry("invalid_type", "reasons: an item is not an object with a code")
        field, message = item.get("field"), item.get("message")
        parsed.append(
            Reason(
                item["code"],
                field if isinstance(field, str) else None,
                message if isinstance(message, str) else "",
            )
        )
    return tuple(parsed)


def parse_entry(value: bytes | None) -> QuarantineEntry:
    """Parse one quarantine record; raises :class:`BadEntry` when it is not one."""
    if value is None:
        raise BadEntry("decode_error", "message has no value (tombstone)")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadEntry("decode_error", f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadEntry("not_an_object", "the JSON value is not an object")
    size = _int(document.get("size"))
    received_at = document.get("received_at")
    return QuarantineEntry(
        source=_source(document),
        raw=_raw(document),
        reasons=_reasons(document),
        received_at=received_at if isinstance(received_at, str) else None,
        truncated=document.get("truncated") is True,
        size=size,
        document=document,
    )
