"""Parsing quarantine records and replaying them: decisions, dedupe by source, counts."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from streamguard.events.records import Outcome, Reason, SourcePosition, quarantine_value
from streamguard.pipeline import RecordPipeline
from streamguard.quarantine import BadEntry, QuarantineReplayer, parse_entry, source_key

HERE = SourcePosition("streamguard.quarantine", 2, 100)


def held(raw: bytes | None, offset: int, code: str = "unknown_enum") -> bytes:
    source = SourcePosition("events.behavior", 0, offset)
    return quarantine_value(raw, source, (Reason(code, "f", "m"),), "2026-12-01T00:00:00.000Z")


def view(event_id: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": "view",
            "user_id": "u1",
            "product_id": "p1",
            "ts": "2026-11-01T10:00:00Z",
        }
    )


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"", "decode_error"),
        (b"[]", "not_an_object"),
        (b'{"source": {"topic": "t", "partition": true, "offset": 1}}', "invalid_type"),
        (b'{"source": {"topic": "", "partition": 0, "offset": 1}}', "invalid_type"),
        (b'{"source": {"topic": "t", "partition": 0, "offset": -1}}', "invalid_type"),
        (b'{"source": {"topic": "t", "partition": 0, "offset": 1}, "raw": 5}', "missing_field"),
        (
            b'{"source": {"topic": "t", "partition": 0, "offset": 1}, "raw": "x",'
            b' "encoding": "utf-8", "reasons": [1]}',
            "invalid_type",
        ),
        (
            b'{"source": {"topic": "t", "partition": 0, "offset": 1}, "raw": "x",'
            b' "encoding": "utf-8"}',
            "missing_field",
        ),
    ],
)
def test_what_is_not_a_quarantine_record(document: bytes, code: str) -> None:
    with pytest.raises(BadEntry) as caught:
        parse_entry(document)
    assert caught.value.code == code
    assert caught.value.reason().message.startswith("not a quarantine record: ")


def test_tombstone_and_bytes_round_trip() -> None:
    with pytest.raises(BadEntry):
        parse_entry(None)
    raw = b"\xff\x00not utf-8"
    entry = parse_entry(held(raw, 3))
    assert entry.raw == raw and entry.document["encoding"] == "base64"
    assert base64.b64decode(entry.document["raw"]) == raw
    assert source_key(entry.source) == "events.behavior/0/3"


class Recording:
    """A processor that accepts everything and remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes | None, SourcePosition]] = []

    def process(self, raw: bytes | None, source: SourcePosition) -> Outcome:
        self.seen.append((raw, source))
        record: dict[str, Any] = {"_dq": {"source": source.as_dict()}}
        return Outcome("valid", source, b"k", orjson.dumps(record), record=record)


def test_each_source_is_decided_once_and_delivered_ones_are_skipped() -> None:
    recording = Recording()
    built: list[str] = []

    def factory(stream: str) -> Recording:
        built.append(stream)
        return recording

    replayer = QuarantineReplayer(factory, delivered={"events.behavior/0/1"})
    kinds = [
        replayer.replay(parse_entry(held(view(f"e{i}"), i)), HERE, "behavior").kind
        for i in (0, 1, 0, 2, 2)
    ]
    assert kinds == ["moved", "skipped", "skipped", "moved", "skipped"]
    assert [source.offset for _, source in recording.seen] == [0, 2]
    assert built == ["behavior"]  # one pipeline per stream
    report = replayer.tally.report()
    assert (report["read"], report["skipped_duplicates"], report["already_replayed"]) == (5, 3, 1)


def test_a_rerun_that_fails_carries_todays_reasons() -> None:
    replayer = QuarantineReplayer(lambda stream: RecordPipeline(stream, clock=lambda: 0.0))
    broken = orjson.dumps({"event_id": "e1", "event_type": "view"})
    decision = replayer.replay(parse_entry(held(broken, 7, "invalid_type")), HERE, "behavior")
    assert decision.kind == "still"
    document = orjson.loads(decision.value or b"")
    assert document["source"] == {"topic": "events.behavior", "partition": 0, "offset": 7}
    assert document["replayed_from"] == HERE.as_dict()
    assert {r["code"] for r in document["reasons"]} == {"missing_field"}
    report = replayer.tally.report()
    assert report["reasons"] == {"missing_field": 1}
    assert report["reasons_by_field"] == {
        "missing_field:product_id": 1,
        "missing_field:ts": 1,
        "missing_field:user_id": 1,
    }


def test_tally_every_record_in_one_count() -> None:
    replayer = QuarantineReplayer(lambda stream: RecordPipeline(stream, clock=lambda: 0.0))
    replayer.replay(parse_entry(held(view("e1"), 1)), HERE, "behavior")
    replayer.replay(parse_entry(held(view("e2"), 2, "duplicate")), HERE, "behavior")
    replayer.replay(parse_entry(held(b"{", 3)), HERE, "behavior")
    replayer.replay(parse_entry(held(view("e1"), 1)), HERE, "behavior")
    replayer.reject(BadEntry("decode_error", "x"))
    replayer.not_replayed("unknown_stream")
    report = replayer.tally.report()
    assert report["read"] == 6
    assert report["read"] == (
        report["replayed"]
        + report["skipped_duplicates"]
        + report["bad_lines"]
        + sum(report["not_replayed"].values())
    )
    assert (report["moved_to_clean"], report["still_quarantined"]) == (1, 2)
    assert report["kept_without_rerun"] == {"duplicate": 1}
    assert report["reasons"] == {"decode_error": 1, "duplicate": 1}
    assert report["moved_by_original_reason"] == {"unknown_enum": 1}
