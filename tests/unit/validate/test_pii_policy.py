"""The PII policy: mask in nested paths, quarantine with pii_detected, report changes nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamguard.events.records import CORRECTION_RULES, REASON_CODES, SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.validate.pii_policy import REDACTED, PiiPolicy, find_all, parse_path

SOURCE = SourcePosition("events.behavior", 0, 0)


def behavior(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": "7e2e5914-4365-4749-8fd7-99967cb53589",
        "event_type": "search",
        "user_id": "u238",
        "session_id": "s-b5ea00bb3096",
        "ts": 1793491200007,
        "platform": "ios",
        **extra,
    }


def test_mask_in_nested_objects_and_arrays() -> None:
    policy = PiiPolicy({"profile": "mask"})
    record: dict[str, Any] = {
        "profile": {
            "contacts": [{"email": "ana@example.com"}, {"phone": "call +44 20 7946 0958"}],
            "notes": ["card 4111 1111 1111 1111 on file", "nothing here"],
        },
        "other": "bob@example.org",  # not under the policy: left alone
    }
    corrections, reasons = policy.apply(record)
    assert reasons == []
    assert record["profile"]["contacts"] == [{"email": "[email]"}, {"phone": "call [phone]"}]
    assert record["profile"]["notes"] == ["card [payment_card] on file", "nothing here"]
    assert record["other"] == "bob@example.org"
    assert sorted((c.field, c.after) for c in corrections) == [
        ("profile.contacts[0].email", "[email]"),
        ("profile.contacts[1].phone", "call [phone]"),
        ("profile.notes[0]", "card [payment_card] on file"),
    ]
    assert all(c.rule == "pii_mask" and c.before == REDACTED for c in corrections)
    # the raw PII appears nowhere in what the corrections say
    said = orjson.dumps([c.as_dict() for c in corrections])
    assert b"ana@example.com" not in said and b"4111" not in said and b"7946" not in said


def test_more_specific_path_wins() -> None:
    policy = PiiPolicy({"*": "mask", "contact": "quarantine", "contact.public": "report"})
    public = {"contact": {"public": "shop@example.com"}, "q": "ip 10.0.0.1"}
    corrections, reasons = policy.apply(public)
    assert reasons == [] and public == {
        "contact": {"public": "shop@example.com"},
        "q": "ip [ip_address]",
    }
    assert [c.field for c in corrections] == ["q"]
    private = {"contact": {"private": "ana@example.com"}, "q": "ip 10.0.0.1"}
    corrections, reasons = policy.apply(private)
    assert corrections == [] and private["q"] == "ip 10.0.0.1"  # quarantined: untouched
    assert [(r.code, r.field) for r in reasons] == [("pii_detected", "contact.private")]
    assert "ana@example.com" not in reasons[0].message and "email" in reasons[0].message


def test_array_element_paths() -> None:
    policy = PiiPolicy({"emails[]": "mask"})
    record = {"emails": ["a@example.com", "n/a"], "bio": "b@example.com"}
    policy.apply(record)
    assert record == {"emails": ["[email]", "n/a"], "bio": "b@example.com"}


@pytest.mark.parametrize(
    "value",
    [
        "7e2e5914-4365-4749-8fd7-99967cb53589",
        "u238",
        "p00042",
        "s-b5ea00bb3096",
        "1793491300000",
        "2026-11-01T00:00:00.123456Z",
        "2008-09-04T21:18:07.123646",
        "99.99",
        "12.50 BRL",
        "qty 3",
        "order 123456789012",
        "4111111111111112",
    ],
)
def test_no_false_positives_on_ids_timestamps_prices(value: str) -> None:
    policy = PiiPolicy({"*": "quarantine"})
    record = {"field": value, "n": 6502530000, "price": 4111111111111111}
    assert policy.apply(record) == ([], [])


def test_report_changes_nothing_and_compiles_to_none() -> None:
    assert PiiPolicy.for_stream({}, "behavior") is None
    assert PiiPolicy.for_stream({"behavior": {"*": "report", "q": "report"}}, "behavior") is None
    assert PiiPolicy.for_stream({"product": {"*": "mask"}}, "behavior") is None
    star = PiiPolicy.for_stream({"*": {"q": "mask"}, "behavior": {"q": "report"}}, "behavior")
    assert star is None  # the stream's own entry wins over "*"
    assert PiiPolicy.for_stream({"*": {"q": "mask"}}, "product") is not None
    raw = orjson.dumps(behavior(query="mail ana@example.com"))
    plain = RecordPipeline("behavior", clock=lambda: 1.8e9).process(raw, SOURCE)
    assert plain.record is not None and plain.record["query"] == "mail ana@example.com"


def test_pipeline_masks_with_a_correction() -> None:
    pipeline = RecordPipeline(
        "behavior", clock=lambda: 1.8e9, pii_policy=PiiPolicy({"query": "mask"})
    )
    raw = orjson.dumps(behavior(query="mail ana@example.com"))
    outcome = pipeline.process(raw, SOURCE)
    assert outcome.status == "corrected"
    assert outcome.record is not None and outcome.record["query"] == "mail [email]"
    clean = orjson.loads(outcome.value)
    assert clean["_dq"]["corrections"] == [
        {"field": "query", "from": REDACTED, "to": "mail [email]", "rule": "pii_mask"}
    ]
    assert b"ana@example.com" not in outcome.value
    assert {c.rule for c in outcome.corrections} <= set(CORRECTION_RULES)
    # a record without PII passes the fast path untouched
    assert pipeline.process(orjson.dumps(behavior(query="shoes")), SOURCE).status == "valid"


def test_pipeline_quarantines_pii_detected_with_the_raw_bytes() -> None:
    pipeline = RecordPipeline(
        "behavior", clock=lambda: 1.8e9, pii_policy=PiiPolicy({"query": "quarantine"})
    )
    raw = orjson.dumps(behavior(query="call +1 (650) 253-0000"))
    outcome = pipeline.process(raw, SOURCE)
    assert outcome.status == "quarantine"
    assert [(r.code, r.field) for r in outcome.reasons] == [("pii_detected", "query")]
    assert {r.code for r in outcome.reasons} <= set(REASON_CODES)
    quarantined = orjson.loads(outcome.value)
    assert "(650) 253-0000" in quarantined["raw"]  # the quarantine topic keeps it, by design


def test_policy_does_not_spare_duplicates_or_break_dedupe() -> None:
    from streamguard.validate.dedupe import DedupeIndex

    pipeline = RecordPipeline(
        "behavior",
        clock=lambda: 1.8e9,
        dedupe=DedupeIndex(),
        pii_policy=PiiPolicy({"query": "quarantine"}),
    )
    with_pii = orjson.dumps(behavior(query="ana@example.com"))
    without = orjson.dumps(behavior(query="shoes"))
    at = [SourcePosition("events.behavior", 0, offset) for offset in range(3)]
    assert pipeline.process(with_pii, at[0]).status == "quarantine"
    # quarantined for PII before dedupe: the corrected resend is not a duplicate
    assert pipeline.process(without, at[1]).status == "valid"
    assert pipeline.process(without, at[2]).reasons[0].code == "duplicate"


def test_long_text_is_scanned_whole() -> None:
    text = ("lorem ipsum " * 1000) + "ana@example.com " + ("dolor " * 500) + "10.0.0.1"
    kinds = [kind for kind, _, _ in find_all(text)]
    assert kinds == ["email", "ip_address"]
    record = {"q": text}
    PiiPolicy({"q": "mask"}).apply(record)
    assert record["q"].count("[email]") == 1 and record["q"].endswith("[ip_address]")
    assert len(record["q"]) == len(text) - len("ana@example.com10.0.0.1") + 19


def test_input_of_report_paths_is_not_read() -> None:
    class Exploding(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise AssertionError("a report-only subtree was walked")

    policy = PiiPolicy({"query": "mask"})
    record = {"query": "x", "attributes": Exploding(a="ana@example.com")}
    assert policy.apply(record) == ([], [])
    assert record["query"] == "x"


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", "a[", "a]", "[]"])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="bad PII policy path"):
        parse_path(path)


def test_bad_action_is_refused() -> None:
    with pytest.raises(ValueError, match="bad PII action"):
        PiiPolicy({"q": "drop"})
