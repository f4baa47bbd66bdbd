"""Each quality dimension on its own: what it counts, per field, and its window rates."""

from __future__ import annotations

from typing import Any

import pytest

from streamguard.quality import (
    AnomalyRate,
    Completeness,
    Consistency,
    Timeliness,
    Uniqueness,
    Validity,
)
from streamguard.quality.dimensions import WindowedRate, applicable_fields

VIEW = {
    "event_id": "e1",
    "event_type": "view",
    "user_id": "u1",
    "product_id": "p1",
    "session_id": "s1",
    "platform": "web",
    "schema_version": 1,
    "ts": 1,
}


def test_windowed_rate_is_an_ewma_of_window_means() -> None:
    rate = WindowedRate(fading_factor=0.25)
    assert rate.get() is None and rate.close() is None
    for x in (1.0, 1.0, 0.0, 0.0):
        rate.add(x)
    assert rate.close() == 0.5 and rate.get() == 0.5
    rate.add(1.0)
    assert rate.close() == 1.0
    assert rate.get() == pytest.approx(0.25 * 1.0 + 0.75 * 0.5)


@pytest.mark.parametrize(
    ("record", "required", "optional"),
    [
        ({"event_type": "search"}, {"query"}, set()),
        ({"event_type": "view"}, {"product_id"}, set()),
        ({"event_type": "Purchase"}, {"product_id", "price", "currency", "quantity"}, set()),
        ({"event_type": ["view"]}, set(), set()),  # unusable type: base fields only
    ],
)
def test_behaviour_fields_depend_on_the_event_type(
    record: dict[str, Any], required: set[str], optional: set[str]
) -> None:
    req, opt = applicable_fields("behavior", record)
    assert set(req) == {"event_id", "event_type", "user_id", "ts"} | required
    assert set(opt) == {"session_id", "platform", "schema_version"} | optional


def test_product_deletes_need_only_the_required_fields() -> None:
    assert applicable_fields("product", {"op": "delete"}) == (
        ("event_id", "product_id", "op", "ts"),
        (),
    )
    assert "title" in applicable_fields("product", {"op": "upsert"})[1]
    with pytest.raises(ValueError, match="unknown stream"):
        applicable_fields("orders", {})


def test_completeness_per_field_and_weighted() -> None:
    c = Completeness("behavior", fading_factor=1.0)  # the EWMA is the last window
    assert c.learn_one(VIEW) == 1.0
    # Required user_id null, optional platform "" and session_id absent.
    partial = {**VIEW, "user_id": None, "platform": ""}
    del partial["session_id"]
    score = c.learn_one(partial)
    assert c.last_missing == ("user_id", "session_id", "platform")
    # 5 required (weight 2) + 3 optional: lost 2 + 1 + 1 of 13.
    assert score == pytest.approx(1 - 4 / 13)
    rates = c.close_window()
    assert rates["user_id"] == 0.5 and rates["event_id"] == 1.0 and rates["platform"] == 0.5
    assert rates[None] == pytest.approx((1.0 + score) / 2)
    fields = c.fields()
    assert fields["user_id"] == 0.5 and fields["product_id"] == 1.0
    # Stream score: required fields weigh 2: (2*(4*1 + 0.5) + (0.5 + 0.5 + 1)) / 13.
    assert c.get() == pytest.approx((2 * 4.5 + 2.0) / 13)


def test_completeness_counts_a_field_only_where_it_applies() -> None:
    c = Completeness("behavior", fading_factor=1.0)
    c.learn_one({**VIEW, "event_type": "search", "query": "shoes", "product_id": None})
    c.learn_one({**VIEW, "event_type": "purchase", "price": 3.0, "currency": "EUR"})
    rates = c.close_window()
    # query applied to 1 record (present); quantity to 1 (missing); product_id to 1.
    assert rates["query"] == 1.0 and rates["quantity"] == 0.0 and rates["product_id"] == 1.0
    assert c.close_window() == {}  # an empty window reports nothing


def test_completeness_raw_enum_variants_are_cached_but_bounded() -> None:
    c = Completeness("behavior")
    for i in range(1000):
        c.learn_one({**VIEW, "event_type": f"weird-{i}"})
    assert len(c._sig_cache) <= 256  # producer-controlled keys cannot grow it without end
    c.learn_one({**VIEW, "event_type": "addToCart"})
    assert c.last_missing == ("price", "currency", "quantity")


def test_validity_leaves_duplicates_to_uniqueness() -> None:
    v, u = Validity(fading_factor=1.0), Uniqueness(fading_factor=1.0)
    for status, duplicate in [
        ("valid", False),
        ("corrected", False),
        ("quarantine", False),
        ("quarantine", True),
    ]:
        v.learn_one(status, duplicate=duplicate)
        u.learn_one(duplicate)
    assert v.close_window() == {None: pytest.approx(2 / 3)}
    assert u.close_window() == {None: 0.75}


def test_timeliness_late_future_and_lag() -> None:
    t = Timeliness(late_after_s=300, future_after_s=60, fading_factor=1.0)
    now = 10_000.0
    results = [
        t.learn_one(now - 10, now),  # on time
        t.learn_one(now - 301, now),  # late
        t.learn_one(now + 30, now),  # slightly ahead: clock skew, tolerated
        t.learn_one(now + 61, now),  # future
    ]
    assert results == [1.0, 0.0, 1.0, 0.0]
    assert (t.late, t.future) == (1, 1)
    assert t.close_window() == {None: 0.5}
    assert t.lag_seconds() == pytest.approx((10 + 301 - 30 - 61) / 4)
    with pytest.raises(ValueError, match="late_after_s"):
        Timeliness(late_after_s=0)


class Catalogue:
    """The Catalogue protocol (``.get``), counting lookups."""

    def __init__(self, products: dict[str, dict[str, Any]]) -> None:
        self.products = products
        self.lookups = 0

    def get(self, product_id: str) -> dict[str, Any] | None:
        self.lookups += 1
        return self.products.get(product_id)


def test_consistency_against_the_catalogue() -> None:
    catalogue = Catalogue(
        {"p1": {"price": 100.0, "currency": "EUR"}, "p2": {"price": None, "currency": "EUR"}}
    )
    c = Consistency(catalogue, price_tolerance=0.2, fading_factor=1.0)
    assert c.learn_one({"product_id": "p1", "price": 110.0, "currency": "EUR"}) == 1.0
    assert c.learn_one({"product_id": "p1", "price": 130.0, "currency": "EUR"}) == 0.5
    # Another currency, or no catalogue price: not comparable, the product is known.
    assert c.learn_one({"product_id": "p1", "price": 130.0, "currency": "USD"}) == 1.0
    assert c.learn_one({"product_id": "p2", "price": 5.0, "currency": "EUR"}) == 1.0
    assert c.learn_one({"product_id": "ghost"}) == 0.0
    assert c.learn_one({"event_type": "search", "query": "x"}) is None
    assert catalogue.lookups == 5
    assert c.close_window() == {None: pytest.approx(3.5 / 5)}
    assert c.catalogue_hits() == pytest.approx(4 / 5)
    assert c.price_agreement() == 0.5
    assert c.get() == pytest.approx(3.5 / 5)
    with pytest.raises(TypeError, match="get"):
        Consistency(object())


def test_anomaly_rate_counts_scores_at_or_above_the_threshold() -> None:
    a = AnomalyRate(threshold=0.9, fading_factor=1.0)
    flags = [a.learn_one(s) for s in (0.1, 0.9, 0.95, None, float("nan"), 0.89)]
    assert flags == [False, True, True, False, False, False]
    assert a.close_window() == {None: 0.5}
    with pytest.raises(ValueError, match="threshold"):
        AnomalyRate(threshold=0.0)
