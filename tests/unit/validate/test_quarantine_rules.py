"""Quarantine rules: each gives the right reason code and field, in the DESIGN.md format."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard.commands.check import InMemoryCatalogue
from streamguard.events.records import (
    CORRECTION_RULES,
    REASON_CODES,
    TRUNCATED_RAW_BYTES,
    Outcome,
    SourcePosition,
)
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.validate.dedupe import DedupeIndex
from tests.unit.factories import event_of_type, purchase, upsert

NOW = 1_800_000_000.0
NOW_TEXT = "2027-01-15T08:00:00.000Z"
TOPIC = "events.behavior"
SRC = SourcePosition(TOPIC, 2, 17)


def pipeline(stream: StreamName = "behavior", **kwargs: Any) -> RecordPipeline:
    return RecordPipeline(stream, clock=lambda: NOW, **kwargs)


def check_outcome(outcome: Outcome, raw: bytes | None, source: SourcePosition) -> None:
    """Invariants of every outcome, and the quarantine record format of DESIGN.md."""
    assert outcome.source == source
    assert all(r.code in REASON_CODES for r in outcome.reasons)
    assert all(c.rule in CORRECTION_RULES for c in outcome.corrections)
    if outcome.status != "quarantine":
        assert outcome.reasons == ()
        return
    assert outcome.reasons, "a quarantined record needs a reason"
    assert outcome.record is None
    assert outcome.key == source.topic.encode()
    document = orjson.loads(outcome.value)
    assert set(document) - {"truncated", "size"} == {
        "source",
        "raw",
        "encoding",
        "reasons",
        "received_at",
    }
    assert document["source"] == source.as_dict()
    assert document["received_at"] == NOW_TEXT
    assert document["reasons"] == [r.as_dict() for r in outcome.reasons]
    for reason in document["reasons"]:
        assert set(reason) == {"code", "field", "message"}
        assert isinstance(reason["message"], str) and reason["message"]
    original = raw or b""
    if document.get("truncated"):
        original = original[:TRUNCATED_RAW_BYTES]
    if document["encoding"] == "utf-8":
        assert document["raw"] == original.decode("utf-8")
    else:
        assert document["encoding"] == "base64"
        assert base64.b64decode(document["raw"], validate=True) == original


def process(
    data: dict[str, Any] | bytes | None,
    stream: StreamName = "behavior",
    source: SourcePosition = SRC,
    **kwargs: Any,
) -> Outcome:
    raw = orjson.dumps(data) if isinstance(data, dict) else data
    outcome = pipeline(stream, **kwargs).process(raw, source)
    check_outcome(outcome, raw, source)
    return outcome


def reasons(outcome: Outcome) -> list[tuple[str, str | None]]:
    assert outcome.status == "quarantine"
    return [(r.code, r.field) for r in outcome.reasons]


# --- out_of_range --------------------------------------------------------------------


@pytest.mark.parametrize("price", [-1, -0.01, -1e9])
def test_negative_price(price: float) -> None:
    assert reasons(process(purchase(price=price))) == [("out_of_range", "price")]
    assert reasons(process(upsert(price=price), "product")) == [("out_of_range", "price")]


@pytest.mark.parametrize("quantity", [0, -1, 1_000_001])
def test_quantity_out_of_range(quantity: int) -> None:
    assert reasons(process(purchase(quantity=quantity))) == [("out_of_range", "quantity")]


@pytest.mark.parametrize("stock", [-1, -500])
def test_negative_stock(stock: int) -> None:
    assert reasons(process(upsert(stock=stock), "product")) == [("out_of_range", "stock")]


def test_boundaries_are_in_range() -> None:
    assert process(purchase(price=0, quantity=1)).status == "valid"
    assert process(purchase(quantity=1_000_000)).status == "valid"
    assert process(upsert(stock=0, price=0.0), "product").status == "valid"


# --- unknown_enum --------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["teleport", "add_to_wishlist", "views"])
def test_unknown_event_type(event_type: str) -> None:
    outcome = process(purchase(event_type=event_type))
    assert reasons(outcome) == [("unknown_enum", "event_type")]


def test_unknown_op() -> None:
    assert reasons(process(upsert(op="merge"), "product")) == [("unknown_enum", "op")]


def test_unknown_platform() -> None:
    assert reasons(process(purchase(platform="windows"))) == [("unknown_enum", "platform")]


@pytest.mark.parametrize("currency", ["XYZ", "US Dollar", "usdollar"])
def test_a_currency_outside_iso_4217_is_an_unknown_enum(currency: str) -> None:
    """DESIGN.md: currency is ISO 4217, not merely three capital letters."""
    assert reasons(process(purchase(currency=currency))) == [("unknown_enum", "currency")]


@pytest.mark.parametrize("value", [["view"], {"type": "view"}, 3])
def test_event_type_of_the_wrong_type_is_quarantined_not_a_crash(value: Any) -> None:
    for catalogue in (None, InMemoryCatalogue()):
        outcome = process(purchase(event_type=value, price=None), catalogue=catalogue)
        assert "event_type" in [field for _, field in reasons(outcome)]


# --- missing_field -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["event_id", "event_type", "user_id", "ts"])
@pytest.mark.parametrize("how", ["absent", "null"])
def test_each_required_behavior_field(name: str, how: str) -> None:
    event = purchase()
    if how == "absent":
        del event[name]
    else:
        event[name] = None
    outcome = process(event)
    assert ("missing_field", name) in reasons(outcome)
    assert all(code == "missing_field" for code, _ in reasons(outcome))
    message = next(r.message for r in outcome.reasons if r.field == name)
    assert name in message


@pytest.mark.parametrize("name", ["event_id", "product_id", "op", "ts"])
def test_each_required_product_field(name: str) -> None:
    outcome = process(upsert(**{name: None}), "product")
    assert reasons(outcome) == [("missing_field", name)]


def test_all_required_fields_missing_are_all_reported() -> None:
    outcome = process({"note": "hello"})
    assert sorted(reasons(outcome)) == [
        ("missing_field", "event_id"),
        ("missing_field", "event_type"),
        ("missing_field", "ts"),
        ("missing_field", "user_id"),
    ]


@pytest.mark.parametrize(
    "event_type", ["view", "click", "add_to_cart", "remove_from_cart", "purchase"]
)
def test_product_id_missing_on_a_non_search_event(event_type: str) -> None:
    assert process(event_of_type(event_type)).status == "valid"
    outcome = process(event_of_type(event_type, product_id=None))
    assert reasons(outcome) == [("missing_field", "product_id")]
    assert event_type in outcome.reasons[0].message


def test_search_needs_a_query_not_a_product() -> None:
    assert process(event_of_type("search")).status == "valid"
    assert reasons(process(event_of_type("search", query=None))) == [("missing_field", "query")]


@pytest.mark.parametrize("event_type", ["add_to_cart", "purchase"])
@pytest.mark.parametrize("name", ["price", "currency", "quantity"])
def test_priced_events_need_price_currency_quantity(event_type: str, name: str) -> None:
    event = event_of_type(event_type, **{name: None})
    assert reasons(process(event)) == [("missing_field", name)]
    # A catalogue that does not know the product does not help.
    other = InMemoryCatalogue()
    other.apply({"product_id": "p-other", "op": "upsert", "price": 1.0, "currency": "USD"})
    assert reasons(process(event, catalogue=other)) == [("missing_field", name)]


def test_catalogue_price_rescues_only_the_price() -> None:
    catalogue = InMemoryCatalogue()
    catalogue.apply({"product_id": "p-1", "op": "upsert", "price": 3.0, "currency": "USD"})
    assert process(purchase(price=None), catalogue=catalogue).status == "corrected"
    outcome = process(purchase(price=None, quantity=None), catalogue=catalogue)
    assert reasons(outcome) == [("missing_field", "quantity")]


def test_missing_and_invalid_fields_reported_together() -> None:
    outcome = process(purchase(user_id=None, price=-5, platform="fax"))
    assert sorted(reasons(outcome)) == [
        ("missing_field", "user_id"),
        ("out_of_range", "price"),
        ("unknown_enum", "platform"),
    ]


# --- invalid_type / invalid_value ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("user_id", {"id": "u-1"}),
        ("user_id", ["u-1"]),
        ("event_id", True),
        ("quantity", True),
        ("quantity", 2.5),
        ("price", "twelve"),
        ("price", True),
        ("price", [12.5]),
        ("currency", 840),
        ("ts", True),
        ("ts", {"s": 1}),
        ("query", 5),
        ("session_id", 1.5),
    ],
)
def test_wrong_types(name: str, value: Any) -> None:
    assert reasons(process(purchase(**{name: value}))) == [("invalid_type", name)]


@pytest.mark.parametrize(
    ("name", "value"),
    [("attributes", "red"), ("attributes", [1]), ("title", 5), ("stock", 1.5), ("op", 1)],
)
def test_wrong_types_in_products(name: str, value: Any) -> None:
    outcome = process(upsert(**{name: value}), "product")
    code = "unknown_enum" if name == "op" else "invalid_type"  # op is a Literal
    assert reasons(outcome) == [(code, name)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ts", "yesterday"),
        ("ts", "2026-11-01"),  # a date, not a timestamp
        ("ts", 99_999_999),  # too small to be seconds or millis
        ("ts", 10**18),  # beyond datetime's range
        ("ts", "0001-01-01T00:00:00+01:00"),  # out of range once in UTC
        ("ts", "9999-12-31T23:59:59-01:00"),
        ("session_id", ""),
    ],
)
def test_invalid_values(name: str, value: Any) -> None:
    assert reasons(process(purchase(**{name: value}))) == [("invalid_value", name)]


# --- decode_error / not_an_object / too_large ----------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b'{"event_id": "e-1"', b"\x00garbage{", b"{'event_id': 'x'}", None],
)
def test_undecodable_values(raw: bytes | None) -> None:
    outcome = process(raw)
    assert reasons(outcome) == [("decode_error", None)]
    assert orjson.loads(outcome.value)["encoding"] == "utf-8"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xde\xad\xbe\xef",
        orjson.dumps(purchase(event_id="MARK")).replace(b"MARK", b"\xff\xfe"),
        b'{"title": "caf\xe9"}',
        b"\x80" * 100,
    ],
)
def test_invalid_utf8_is_kept_as_base64_of_the_exact_bytes(raw: bytes) -> None:
    outcome = process(raw)
    assert reasons(outcome) == [("decode_error", None)]
    document = orjson.loads(outcome.value)
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["raw"]) == raw


@pytest.mark.parametrize("raw", [b"[1, 2, 3]", b"42", b'"view"', b"null", b"true", b"[{}]"])
def test_json_that_is_not_an_object(raw: bytes) -> None:
    outcome = process(raw)
    assert reasons(outcome) == [("not_an_object", None)]
    assert orjson.loads(outcome.value)["raw"] == raw.decode()


def test_too_large_value_is_quarantined_with_a_truncated_raw() -> None:
    limit = 1_048_576
    raw = orjson.dumps(purchase(debug_payload="x" * limit))
    assert len(raw) > limit
    outcome = process(raw, max_record_bytes=limit)
    assert reasons(outcome) == [("too_large", None)]
    document = orjson.loads(outcome.value)
    assert document["truncated"] is True
    assert document["size"] == len(raw)
    assert document["raw"] == raw[:TRUNCATED_RAW_BYTES].decode()
    assert len(outcome.value) < 2 * TRUNCATED_RAW_BYTES  # the quarantine record stays small


def test_too_large_binary_value_is_truncated_base64() -> None:
    raw = b"\xff" * 10_000
    outcome = process(raw, max_record_bytes=2048)
    assert reasons(outcome) == [("too_large", None)]
    document = orjson.loads(outcome.value)
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["raw"]) == raw[:TRUNCATED_RAW_BYTES]
    assert len(outcome.value) < 2 * TRUNCATED_RAW_BYTES


def test_size_limit_is_inclusive_and_configurable() -> None:
    raw = orjson.dumps(purchase(pad="x" * 2000))
    assert process(raw, max_record_bytes=len(raw)).status == "valid"
    assert reasons(process(raw, max_record_bytes=len(raw) - 1)) == [("too_large", None)]


def test_other_quarantine_records_are_not_truncated() -> None:
    raw = orjson.dumps(purchase(price=-1, pad="y" * (3 * TRUNCATED_RAW_BYTES)))
    document = orjson.loads(process(raw).value)
    assert "truncated" not in document
    assert document["raw"] == raw.decode()


# --- duplicate -----------------------------------------------------------------------


class Clock:
    """A settable clock (seconds)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(offset: int, partition: int = 0, topic: str = TOPIC) -> SourcePosition:
    return SourcePosition(topic, partition, offset)


def test_duplicate_event_id_within_the_window() -> None:
    p = pipeline(dedupe=DedupeIndex(window_s=3600, clock=lambda: NOW))
    first = p.process(orjson.dumps(purchase()), at(5))
    assert first.status == "valid"
    raw = orjson.dumps(purchase(ts="2026-11-01T10:30:00Z", price=13.0))
    second = p.process(raw, at(9, partition=1))
    check_outcome(second, raw, at(9, partition=1))
    assert reasons(second) == [("duplicate", "event_id")]
    assert f"{TOPIC}/0/5" in second.reasons[0].message  # names the first source
    assert orjson.loads(second.value)["source"] == at(9, partition=1).as_dict()


def test_an_invalid_record_does_not_claim_its_event_id() -> None:
    p = pipeline(dedupe=DedupeIndex(clock=lambda: NOW))
    assert p.process(orjson.dumps(purchase(price=-1)), at(0)).status == "quarantine"
    assert p.process(orjson.dumps(purchase()), at(1)).status == "valid"
    assert reasons(p.process(orjson.dumps(purchase()), at(2))) == [("duplicate", "event_id")]


def test_a_corrected_record_counts_for_dedupe() -> None:
    p = pipeline(dedupe=DedupeIndex(clock=lambda: NOW))
    assert p.process(orjson.dumps(purchase(price="12.5")), at(0)).status == "corrected"
    assert reasons(p.process(orjson.dumps(purchase()), at(1))) == [("duplicate", "event_id")]


def test_distinct_event_ids_are_not_duplicates() -> None:
    p = pipeline(dedupe=DedupeIndex(clock=lambda: NOW))
    outcomes = [p.process(orjson.dumps(purchase(event_id=f"e{i}")), at(i)) for i in range(50)]
    assert {o.status for o in outcomes} == {"valid"}


def test_redelivery_is_not_a_duplicate_and_gives_an_identical_outcome() -> None:
    p = pipeline(dedupe=DedupeIndex(clock=lambda: NOW))
    raw_a, raw_b = orjson.dumps(purchase()), orjson.dumps(purchase(price=1.0))
    first_a = p.process(raw_a, at(3))
    first_b = p.process(raw_b, at(4))
    assert first_a.status == "valid"
    assert reasons(first_b) == [("duplicate", "event_id")]
    # At-least-once: after a crash both are delivered again, in order and out of order.
    for _ in range(2):
        again_b, again_a = p.process(raw_b, at(4)), p.process(raw_a, at(3))
        assert again_a == first_a and again_a.value == first_a.value
        assert again_a.record == first_a.record
        assert again_b == first_b and again_b.value == first_b.value


def test_duplicate_outside_the_processing_window_is_accepted() -> None:
    clock = Clock()
    p = pipeline(dedupe=DedupeIndex(window_s=60, clock=clock))
    assert p.process(orjson.dumps(purchase()), at(0)).status == "valid"
    clock.now += 59
    assert reasons(p.process(orjson.dumps(purchase()), at(1))) == [("duplicate", "event_id")]
    clock.now += 2  # the first sighting is now 61 s old: forgotten
    assert p.process(orjson.dumps(purchase()), at(2)).status == "valid"
    assert reasons(p.process(orjson.dumps(purchase()), at(3))) == [("duplicate", "event_id")]


def test_same_event_id_far_apart_in_event_time_is_not_a_duplicate() -> None:
    p = pipeline(dedupe=DedupeIndex(window_s=3600, clock=lambda: NOW))
    assert p.process(orjson.dumps(purchase(ts="2026-11-01T10:00:00Z")), at(0)).status == "valid"
    later = orjson.dumps(purchase(ts="2026-11-01T11:00:00.001Z"))
    assert p.process(later, at(1)).status == "valid"
    within = orjson.dumps(purchase(ts="2026-11-01T11:59:00Z"))
    assert reasons(p.process(within, at(2))) == [("duplicate", "event_id")]


def test_without_an_index_nothing_is_a_duplicate() -> None:
    p = pipeline()
    assert [p.process(orjson.dumps(purchase()), at(i)).status for i in range(3)] == ["valid"] * 3


def test_products_are_deduplicated_too() -> None:
    p = pipeline("product", dedupe=DedupeIndex(clock=lambda: NOW))
    assert p.process(orjson.dumps(upsert()), at(0, topic="events.product")).status == "valid"
    dup = p.process(orjson.dumps(upsert(stock=9)), at(1, topic="events.product"))
    assert reasons(dup) == [("duplicate", "event_id")]
    assert dup.key == b"events.product"


# --- properties ----------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "view",
            "search",
            "purchase",
            "Add To Cart",
            "p-1",
            " usd",
            "12.5",
            "2026-11-01T10:00:00",
            "0001-01-01T00:00:00+01:00",
            "upsert",
            1_700_000_000,
            1_800_000_000_000,
        ]
    )
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children)
    ),
    max_leaves=6,
)
_FIELDS = [
    "event_id",
    "event_type",
    "user_id",
    "session_id",
    "product_id",
    "query",
    "price",
    "currency",
    "quantity",
    "ts",
    "platform",
    "schema_version",
    "op",
    "title",
    "category",
    "stock",
    "attributes",
    "extra",
]
_records = st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=12)
_CATALOGUE = InMemoryCatalogue()
_CATALOGUE.apply({"product_id": "p-1", "op": "upsert", "price": 3.0, "currency": "USD"})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["behavior", "product"]),
    st.one_of(_records.map(orjson.dumps), st.binary(max_size=64)),
)
def test_process_never_raises_and_every_outcome_is_well_formed(
    stream: StreamName, raw: bytes
) -> None:
    catalogue = _CATALOGUE if stream == "behavior" else None
    p = pipeline(stream, dedupe=DedupeIndex(clock=lambda: NOW), catalogue=catalogue)
    outcome = p.process(raw, SRC)
    check_outcome(outcome, raw, SRC)
    if outcome.status != "quarantine":
        clean = orjson.loads(outcome.value)
        assert clean["_dq"]["status"] == outcome.status
        assert clean["ts"].endswith("Z")
        assert (outcome.status == "corrected") == bool(outcome.corrections)
        assert p.process(raw, SRC) == outcome  # a redelivery is decided the same way
