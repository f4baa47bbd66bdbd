"""Repair rules: through the pipeline (``_dq.corrections``) and through repair.py directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.commands.file_input import InMemoryCatalogue
from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PLATFORMS, PRODUCT_OPS
from streamguard.events.records import CORRECTION_RULES, SourcePosition
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.repair.rules import _ENUMS, canonical_enum, repair_behavior, repair_product
from tests.unit.factories import purchase, upsert

NOW = 1_800_000_000.0  # processing time given to the pipeline's clock
NOW_TEXT = "2027-01-15T08:00:00.000Z"
SRC = SourcePosition("events.behavior", 3, 41)
PSRC = SourcePosition("events.product", 1, 7)


def run(
    event: dict[str, Any],
    stream: StreamName = "behavior",
    catalogue: InMemoryCatalogue | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Process ``event`` and return the outcome and its decoded clean record."""
    pipeline = RecordPipeline(stream, catalogue=catalogue, clock=lambda: NOW)
    outcome = pipeline.process(orjson.dumps(event), SRC if stream == "behavior" else PSRC)
    assert outcome.status != "quarantine", outcome.reasons
    clean = orjson.loads(outcome.value)
    assert clean == outcome.record
    assert clean["ts"].endswith("Z")
    datetime.fromisoformat(clean["ts"])  # RFC 3339, parseable
    return outcome, clean


def corrections(clean: dict[str, Any]) -> list[dict[str, Any]]:
    return list(clean["_dq"]["corrections"])


# --- a clean record without corrections --------------------------------------------


def test_valid_record_gets_a_full_dq_block() -> None:
    outcome, clean = run(purchase())
    assert outcome.status == "valid"
    assert outcome.key == b"u-1"
    assert outcome.corrections == ()
    assert clean["_dq"] == {
        "status": "valid",
        "corrections": [],
        "anomaly_score": None,
        "quality_score": None,
        "schema_version": "behavior.v1",
        "source": {"topic": "events.behavior", "partition": 3, "offset": 41},
        "checked_at": NOW_TEXT,
    }
    assert {k: v for k, v in clean.items() if k != "_dq"} == {
        **purchase(),
        "ts": "2026-11-01T10:00:00.000Z",
    }


def test_product_record_is_keyed_by_product_id() -> None:
    outcome, clean = run(upsert(), "product")
    assert outcome.status == "valid"
    assert outcome.key == b"p-1"
    assert clean["_dq"]["schema_version"] == "product.v1"
    assert clean["_dq"]["source"] == {"topic": "events.product", "partition": 1, "offset": 7}


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00.000Z"),
        ("2026-11-01T11:30:00.250+01:30", "2026-11-01T10:00:00.250Z"),
        ("2026-11-01T05:00:00-05:00", "2026-11-01T10:00:00.000Z"),
        (1_793_527_200_000, "2026-11-01T10:00:00.000Z"),
        (1_793_527_200_999, "2026-11-01T10:00:00.999Z"),
    ],
)
def test_clean_ts_is_rfc3339_utc_without_a_correction(ts: Any, expected: str) -> None:
    # Normalising a valid time to UTC is the output format, not a repair.
    outcome, clean = run(purchase(ts=ts))
    assert outcome.status == "valid"
    assert clean["ts"] == expected


def test_unknown_extra_fields_pass_through_untouched() -> None:
    extras = {
        "utm": {"campaign": "  Spring ", "n": [1, 2.5, None, True], "deep": {"x": {"y": "z"}}},
        "rating": 4.5,
        "Price": " 12.50",  # not the schema's "price": not repaired
        "Currency": " usd",
        "ts_local": 1_700_000_000,
        "tags": [],
        "note": None,
    }
    outcome, clean = run({**purchase(), **extras})
    assert outcome.status == "valid"
    for name, value in extras.items():
        assert clean[name] == value
        assert type(clean[name]) is type(value)


def test_extra_fields_survive_alongside_corrections() -> None:
    outcome, clean = run({**purchase(price="9.5"), "rating": "4.5", "x_id": 12})
    assert outcome.status == "corrected"
    assert clean["rating"] == "4.5"  # an unknown numeric string is left alone
    assert clean["x_id"] == 12
    assert [c["field"] for c in corrections(clean)] == ["price"]


# --- numeric_string ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [("12.50", 12.5), (" 12.50 ", 12.5), ("7", 7.0), ("0", 0.0), ("1e2", 100.0), (".5", 0.5)],
)
def test_price_string_becomes_a_number(raw: str, number: float) -> None:
    outcome, clean = run(purchase(price=raw))
    assert outcome.status == "corrected"
    assert clean["_dq"]["status"] == "corrected"
    assert clean["price"] == number
    assert isinstance(clean["price"], float)
    assert corrections(clean) == [
        {"field": "price", "from": raw, "to": number, "rule": "numeric_string"}
    ]


@pytest.mark.parametrize(("raw", "number"), [("3", 3), (" 2 ", 2), ("+4", 4)])
def test_quantity_string_becomes_an_integer(raw: str, number: int) -> None:
    outcome, clean = run(purchase(quantity=raw))
    assert outcome.status == "corrected"
    assert clean["quantity"] == number
    assert isinstance(clean["quantity"], int)
    assert corrections(clean) == [
        {"field": "quantity", "from": raw, "to": number, "rule": "numeric_string"}
    ]


def test_price_and_quantity_strings_both_corrected() -> None:
    outcome, clean = run(purchase(price="19.99", quantity="1"))
    assert [(c.field, c.rule) for c in outcome.corrections] == [
        ("price", "numeric_string"),
        ("quantity", "numeric_string"),
    ]
    assert (clean["price"], clean["quantity"]) == (19.99, 1)


def test_product_price_and_stock_strings() -> None:
    outcome, clean = run(upsert(price="9.90", stock="3"), "product")
    assert outcome.status == "corrected"
    assert (clean["price"], clean["stock"]) == (9.9, 3)
    assert corrections(clean) == [
        {"field": "price", "from": "9.90", "to": 9.9, "rule": "numeric_string"},
        {"field": "stock", "from": "3", "to": 3, "rule": "numeric_string"},
    ]


@pytest.mark.parametrize("raw", ["twelve", "12,50", "$12", "1e400", "nan", "", "1.2.3"])
def test_non_numeric_price_strings_are_not_guessed(raw: str) -> None:
    record = purchase(price=raw)
    assert repair_behavior(record, catalogue=None) == []
    assert record["price"] == raw
    outcome = RecordPipeline("behavior", clock=lambda: NOW).process(orjson.dumps(record), SRC)
    assert outcome.status == "quarantine"
    assert [(r.code, r.field) for r in outcome.reasons] == [("invalid_type", "price")]


@pytest.mark.parametrize("raw", ["1.5", "2.0", "two", "1e3"])
def test_non_integral_quantity_strings_are_not_guessed(raw: str) -> None:
    record = purchase(quantity=raw)
    assert repair_behavior(record, catalogue=None) == []
    assert record["quantity"] == raw


def test_negative_price_string_is_converted_then_rejected() -> None:
    # The rule only converts types; ranges are the validator's business.
    outcome = RecordPipeline("behavior", clock=lambda: NOW).process(
        orjson.dumps(purchase(price="-3")), SRC
    )
    assert outcome.status == "quarantine"
    assert [(r.code, r.field) for r in outcome.reasons] == [("out_of_range", "price")]


def test_integral_float_quantity() -> None:
    outcome, clean = run(purchase(quantity=3.0))
    assert clean["quantity"] == 3 and isinstance(clean["quantity"], int)
    assert corrections(clean) == [
        {"field": "quantity", "from": 3.0, "to": 3, "rule": "integral_float"}
    ]


def test_integer_ids_become_strings() -> None:
    outcome, clean = run(purchase(user_id=42, product_id=7))
    assert outcome.key == b"42"
    assert (clean["user_id"], clean["product_id"]) == ("42", "7")
    assert {(c.field, c.rule) for c in outcome.corrections} == {
        ("user_id", "id_to_string"),
        ("product_id", "id_to_string"),
    }


# --- currency_normalize --------------------------------------------------------------


@pytest.mark.parametrize(("raw", "code"), [(" usd", "USD"), ("eur", "EUR"), ("Brl ", "BRL")])
def test_currency_is_normalized(raw: str, code: str) -> None:
    outcome, clean = run(purchase(currency=raw))
    assert outcome.status == "corrected"
    assert clean["currency"] == code
    assert corrections(clean) == [
        {"field": "currency", "from": raw, "to": code, "rule": "currency_normalize"}
    ]


def test_product_currency_is_normalized() -> None:
    _, clean = run(upsert(currency="usd "), "product")
    assert corrections(clean) == [
        {"field": "currency", "from": "usd ", "to": "USD", "rule": "currency_normalize"}
    ]


@pytest.mark.parametrize("raw", ["US Dollar", "us", "u$d", "€"])
def test_currency_that_is_no_code_is_left_alone(raw: str) -> None:
    record = purchase(currency=raw)
    assert repair_behavior(record, catalogue=None) == []
    assert record["currency"] == raw


# --- enum_normalize ------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["addToCart", "Add To Cart", "add-to-cart", "ADD_TO_CART"])
def test_event_type_variants(variant: str) -> None:
    outcome, clean = run(purchase(event_type=variant))
    assert clean["event_type"] == "add_to_cart"
    assert outcome.status == "corrected"
    assert corrections(clean) == [
        {"field": "event_type", "from": variant, "to": "add_to_cart", "rule": "enum_normalize"}
    ]


@pytest.mark.parametrize(("variant", "canonical"), [("iOS", "ios"), ("WEB", "web")])
def test_platform_variants(variant: str, canonical: str) -> None:
    _, clean = run(purchase(platform=variant))
    assert clean["platform"] == canonical
    assert corrections(clean) == [
        {"field": "platform", "from": variant, "to": canonical, "rule": "enum_normalize"}
    ]


@pytest.mark.parametrize(("variant", "canonical"), [("UPSERT", "upsert"), (" Delete ", "delete")])
def test_product_op_variants(variant: str, canonical: str) -> None:
    _, clean = run(upsert(op=variant), "product")
    assert clean["op"] == canonical
    assert corrections(clean) == [
        {"field": "op", "from": variant, "to": canonical, "rule": "enum_normalize"}
    ]


@pytest.mark.parametrize("value", ["teleport", "add to wishlist", "x" * 100, "addToCartt"])
def test_unknown_enum_values_are_not_guessed(value: str) -> None:
    assert canonical_enum(value, _ENUMS["event_type"]) is None
    record = purchase(event_type=value)
    assert repair_behavior(record, catalogue=None) == []
    assert record["event_type"] == value


def _variants(canonical: str) -> st.SearchStrategy[str]:
    words = canonical.split("_")
    case = st.sampled_from([str.lower, str.upper, str.title])
    return st.tuples(
        st.lists(case, min_size=len(words), max_size=len(words)),
        st.sampled_from(["_", "-", " ", "", ".", " - "]),
        st.sampled_from(["", " "]),
    ).map(lambda t: t[2] + t[1].join(f(w) for f, w in zip(t[0], words, strict=True)) + t[2])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BEHAVIOR_EVENT_TYPES).flatmap(lambda v: st.tuples(st.just(v), _variants(v))))
def test_any_spelling_variant_of_an_event_type_is_normalized(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    record = purchase(event_type=variant)
    fixes = repair_behavior(record, catalogue=None)
    assert record["event_type"] == canonical
    if variant == canonical:
        assert fixes == []
    else:
        assert [(c.field, c.before, c.after, c.rule) for c in fixes] == [
            ("event_type", variant, canonical, "enum_normalize")
        ]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(PLATFORMS + PRODUCT_OPS).flatmap(lambda v: st.tuples(st.just(v), _variants(v)))
)
def test_any_spelling_variant_of_platform_and_op_is_normalized(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    name = "platform" if canonical in PLATFORMS else "op"
    assert canonical_enum(variant, _ENUMS[name]) == canonical


# --- ts_epoch_seconds / ts_assume_utc --------------------------------------------------


@pytest.mark.parametrize("seconds", [1_800_000_000, 1_793_527_200, 100_000_000, 99_999_999_999])
def test_epoch_seconds_become_millis(seconds: int) -> None:
    outcome, clean = run(purchase(ts=seconds))
    assert outcome.status == "corrected"
    assert corrections(clean) == [
        {"field": "ts", "from": seconds, "to": seconds * 1000, "rule": "ts_epoch_seconds"}
    ]
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    assert clean["ts"] == moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_fractional_epoch_seconds_keep_their_millis() -> None:
    _, clean = run(purchase(ts=1_800_000_000.25))
    assert corrections(clean)[0]["to"] == 1_800_000_000_250
    assert clean["ts"] == "2027-01-15T08:00:00.250Z"


def test_epoch_millis_are_not_touched() -> None:
    outcome, clean = run(purchase(ts=100_000_000_000))  # 1e11: the first millis value
    assert outcome.status == "valid"
    assert clean["ts"] == "1973-03-03T09:46:40.000Z"


@pytest.mark.parametrize("ts", [99_999_999, 0, -1_800_000_000, True])
def test_small_or_odd_epoch_numbers_are_not_repaired(ts: Any) -> None:
    record = purchase(ts=ts)
    assert repair_behavior(record, catalogue=None) == []
    assert record["ts"] == ts


@pytest.mark.parametrize(
    ("naive", "expected"),
    [
        ("2026-11-01T10:00:00", "2026-11-01T10:00:00.000Z"),
        ("2026-11-01T10:00:00.5", "2026-11-01T10:00:00.500Z"),
        ("2026-11-01T23:59:59.999", "2026-11-01T23:59:59.999Z"),
    ],
)
def test_naive_iso_timestamp_is_taken_as_utc(naive: str, expected: str) -> None:
    outcome, clean = run(purchase(ts=naive))
    assert outcome.status == "corrected"
    assert corrections(clean) == [
        {"field": "ts", "from": naive, "to": naive + "Z", "rule": "ts_assume_utc"}
    ]
    assert clean["ts"] == expected


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("20261101T100000Z", "2026-11-01T10:00:00.000Z"),  # ISO 8601 basic format
        ("2026-W44-7T10:00:00Z", "2026-11-01T10:00:00.000Z"),  # a week date
        ("2026-11-01 10:00:00Z", "2026-11-01T10:00:00.000Z"),  # a space separator
        ("2026-11-01T12:00:00+0200", "2026-11-01T10:00:00.000Z"),  # offset without colon
    ],
)
def test_iso_8601_forms_outside_rfc_3339_are_normalised_and_recorded(
    variant: str, expected: str
) -> None:
    """They used to pass validation unchanged (fromisoformat takes them; RFC 3339 does not)."""
    outcome, clean = run(purchase(ts=variant))
    assert outcome.status == "corrected"
    assert corrections(clean) == [
        {"field": "ts", "from": variant, "to": expected, "rule": "ts_normalize"}
    ]
    assert clean["ts"] == expected


def test_a_naive_timestamp_with_a_space_is_taken_as_utc_in_rfc_3339() -> None:
    outcome, clean = run(purchase(ts="2026-11-01 10:00:00"))
    assert outcome.status == "corrected"
    assert corrections(clean)[0]["to"] == "2026-11-01T10:00:00.000Z"
    assert corrections(clean)[0]["rule"] == "ts_assume_utc"


@pytest.mark.parametrize("ts", ["2026-11-01", "yesterday", "2026-11-01T10:00:00+02:00"])
def test_ts_strings_that_are_not_naive_timestamps_are_not_repaired(ts: str) -> None:
    record = purchase(ts=ts)
    assert repair_behavior(record, catalogue=None) == []
    assert record["ts"] == ts


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1973, 3, 4),  # naive on purpose
        max_value=datetime(2200, 1, 1),
    )
)
def test_any_naive_timestamp_is_read_as_utc(moment: datetime) -> None:
    _, clean = run(purchase(ts=moment.isoformat()))
    expected = moment.replace(tzinfo=UTC)
    assert datetime.fromisoformat(clean["ts"]) == expected.replace(
        microsecond=expected.microsecond // 1000 * 1000
    )


# --- price_from_catalogue ------------------------------------------------------------


def catalogue(*products: dict[str, Any]) -> InMemoryCatalogue:
    cat = InMemoryCatalogue()
    for product in products:
        cat.apply(product)
    return cat


def test_price_and_currency_filled_from_the_catalogue() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 19.99, "currency": "EUR"})
    outcome, clean = run(purchase(price=None, currency=None), catalogue=cat)
    assert outcome.status == "corrected"
    assert (clean["price"], clean["currency"]) == (19.99, "EUR")
    assert corrections(clean) == [
        {"field": "price", "from": None, "to": 19.99, "rule": "price_from_catalogue"},
        {"field": "currency", "from": None, "to": "EUR", "rule": "price_from_catalogue"},
    ]


def test_only_the_missing_price_is_filled_when_currency_matches() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 19.99, "currency": "USD"})
    _, clean = run(purchase(event_type="add_to_cart", price=None), catalogue=cat)
    assert clean["currency"] == "USD"
    assert corrections(clean) == [
        {"field": "price", "from": None, "to": 19.99, "rule": "price_from_catalogue"}
    ]


def test_a_list_price_in_another_currency_is_not_used() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 19.99, "currency": "USD"})
    record = purchase(price=None, currency="EUR")
    assert repair_behavior(record, cat) == []
    assert "price" not in record


def test_catalogue_after_normalizing_currency() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 5.0, "currency": "BRL"})
    _, clean = run(purchase(price=None, currency=" brl"), catalogue=cat)
    assert [(c["field"], c["rule"]) for c in corrections(clean)] == [
        ("currency", "currency_normalize"),
        ("price", "price_from_catalogue"),
    ]
    assert (clean["price"], clean["currency"]) == (5.0, "BRL")


def test_catalogue_from_clean_product_records() -> None:
    _, product = run(upsert(price="7.5"), "product")
    cat = catalogue(product)
    _, clean = run(purchase(price=None, currency=None), catalogue=cat)
    assert (clean["price"], clean["currency"]) == (7.5, "USD")


@pytest.mark.parametrize(
    "products",
    [
        [],
        [{"product_id": "p-2", "op": "upsert", "price": 1.0, "currency": "USD"}],
        [{"product_id": "p-1", "op": "upsert", "currency": "USD"}],
        [
            {"product_id": "p-1", "op": "upsert", "price": 1.0, "currency": "USD"},
            {"product_id": "p-1", "op": "delete"},
        ],
    ],
    ids=["empty", "other-product", "no-list-price", "deleted"],
)
def test_no_catalogue_price_leaves_the_price_missing(products: list[dict[str, Any]]) -> None:
    record = purchase(price=None)
    assert repair_behavior(record, catalogue(*products)) == []
    assert "price" not in record


def test_catalogue_never_overrides_a_present_price() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 99.0, "currency": "USD"})
    outcome, clean = run(purchase(price=1.0), catalogue=cat)
    assert outcome.status == "valid"
    assert clean["price"] == 1.0


@pytest.mark.parametrize("event_type", ["view", "click", "remove_from_cart"])
def test_catalogue_price_only_for_cart_and_purchase(event_type: str) -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 9.0, "currency": "USD"})
    record = purchase(event_type=event_type, price=None, currency=None, quantity=None)
    assert repair_behavior(record, cat) == []
    assert "price" not in record


# --- several rules at once, and repair.py directly -------------------------------------


def test_every_rule_in_one_record_in_a_fixed_order() -> None:
    cat = catalogue({"product_id": "p-1", "op": "upsert", "price": 3.0, "currency": "USD"})
    record = purchase(
        event_type="Add To Cart",
        user_id=5,
        price=None,
        currency=" usd",
        quantity="2",
        platform="iOS",
        ts="2026-11-01T10:00:00",
    )
    fixes = repair_behavior(record, cat)
    assert [(c.field, c.rule) for c in fixes] == [
        ("event_type", "enum_normalize"),
        ("user_id", "id_to_string"),
        ("currency", "currency_normalize"),
        ("quantity", "numeric_string"),
        ("platform", "enum_normalize"),
        ("ts", "ts_assume_utc"),
        ("price", "price_from_catalogue"),
    ]
    assert all(c.rule in CORRECTION_RULES for c in fixes)
    assert record == purchase(
        event_type="add_to_cart",
        user_id="5",
        price=3.0,
        quantity=2,
        platform="ios",
        ts="2026-11-01T10:00:00Z",
    )


def test_a_clean_record_needs_no_repair() -> None:
    record = purchase()
    assert repair_behavior(record, catalogue=None) == []
    assert record == purchase()
    product = upsert()
    assert repair_product(product) == []
    assert product == upsert()


def test_repair_product_direct() -> None:
    record = upsert(op="UPSERT", product_id=12, price=" 4.5", currency="eur", stock=2.0, ts=1.8e9)
    fixes = repair_product(record)
    assert [c.as_dict() for c in fixes] == [
        {"field": "op", "from": "UPSERT", "to": "upsert", "rule": "enum_normalize"},
        {"field": "product_id", "from": 12, "to": "12", "rule": "id_to_string"},
        {"field": "price", "from": " 4.5", "to": 4.5, "rule": "numeric_string"},
        {"field": "currency", "from": "eur", "to": "EUR", "rule": "currency_normalize"},
        {"field": "stock", "from": 2.0, "to": 2, "rule": "integral_float"},
        {"field": "ts", "from": 1.8e9, "to": 1_800_000_000_000, "rule": "ts_epoch_seconds"},
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e9, allow_nan=False),
    st.sampled_from(["", " ", "  "]),
)
def test_any_non_negative_price_string_round_trips(price: float, pad: str) -> None:
    text = f"{pad}{price!r}{pad}"
    _, clean = run(purchase(price=text))
    assert clean["price"] == price
    assert corrections(clean) == [
        {"field": "price", "from": text, "to": price, "rule": "numeric_string"}
    ]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=1_000_000))
def test_any_quantity_string_round_trips(quantity: int) -> None:
    _, clean = run(purchase(quantity=str(quantity)))
    assert clean["quantity"] == quantity
