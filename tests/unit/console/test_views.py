"""View models: quarantine query checks and masking, streams overview with and without
Prometheus, incidents, findings."""

from __future__ import annotations

import base64

import pytest

from streamguard.console.prometheus import PromOverview
from streamguard.console.store import ConsoleStore
from streamguard.console.views import (
    MAX_LIMIT,
    QuarantineQuery,
    QueryError,
    findings_view,
    incidents_view,
    parse_filters,
    parse_quarantine_query,
    quarantine_view,
    streams_view,
)
from tests.unit.console.feed import Feed


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "ten"}, "whole number"),
        ({"limit": "0"}, "at least 1"),
        ({"limit": "-5"}, "at least 1"),
        ({"stream": "x" * 201}, "at most 200"),
        ({"reason": "a\x00b"}, "printable"),
        ({"color": "red"}, "unknown parameter 'color'"),
    ],
)
def test_bad_quarantine_parameters_say_why(params: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_quarantine_query(params)


def test_limit_is_capped_and_defaulted() -> None:
    assert parse_quarantine_query({"limit": str(10**9)}) == QuarantineQuery(
        None, None, MAX_LIMIT, True
    )
    assert parse_quarantine_query({}).limit == 50
    assert parse_quarantine_query({"stream": "", "reason": ""}).stream is None
    with pytest.raises(QueryError):
        parse_filters({"stream": "b", "limit": "1"}, ("stream",))


def test_quarantine_records_are_masked_and_carry_reasons_and_positions() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.quarantine("behavior", "missing_field", raw='{"email": "ana@example.com"}', offset=7)
    card = base64.b64encode(b"\xffcard 4111 1111 1111 1111").decode()
    feed.put(
        "streamguard.quarantine",
        {
            "source": {"topic": "events.product", "partition": 2, "offset": 8},
            "raw": card,
            "encoding": "base64",
            "reasons": [
                {"code": "decode_error", "field": None, "message": "from +44 20 7946 0958"}
            ],
            "received_at": "2027-01-15T08:00:09.000Z",
        },
    )
    page = quarantine_view(store, parse_quarantine_query({"limit": "5"}))
    assert [r["stream"] for r in page["records"]] == ["product", "behavior"]
    product, behavior = page["records"]
    assert "4111" not in product["raw"] and "[payment_card]" in product["raw"]
    assert product["reasons"][0]["message"] == "from [phone]"
    assert product["source"] == {"topic": "events.product", "partition": 2, "offset": 8}
    assert behavior["raw"] == '{"email": "[email]"}'
    assert behavior["reasons"][0]["code"] == "missing_field"
    assert {"stream": "behavior", "code": "missing_field", "count": 1} in page["reasons"]


def test_long_raw_values_are_cut() -> None:
    store = ConsoleStore()
    Feed(store).quarantine("behavior", "too_large", raw="x" * 100_000)
    (record,) = quarantine_view(store, parse_quarantine_query({}))["records"]
    assert len(record["raw"]) <= 2_003 and record["raw"].endswith("...")


def test_streams_from_topics_rates_shares_and_dropping_dimensions() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    drop = [{"kind": "quality_drop", "dimension": "validity", "statistic": 0.42}]
    feed.signals("behavior", 0, 0, at=100.0)
    feed.signals("behavior", 600, 60, at=110.0, signals=drop)
    feed.incident("i1", "behavior", "firing", at=110.0)
    view = streams_view(store, None, now_s=111.0)
    assert view["source"] == "topics"
    (behavior,) = view["streams"]
    assert behavior["rate_per_s"] == 60.0
    assert behavior["outcome_shares"] == {"quarantine": 0.1, "not quarantined": 0.9}
    assert behavior["quality"] == {"validity": 0.42}
    assert behavior["open_incidents"] == 1
    assert behavior["rate_series"] == [(110.0, 60.0)]


def test_streams_from_prometheus_and_its_error_falls_back() -> None:
    store = ConsoleStore()
    prom = PromOverview(
        rates={"product": [(60.0, 5.0), (120.0, 7.5)]},
        outcomes={"product": {"valid": 90.0, "corrected": 5.0, "quarantine": 5.0}},
        quality={"product": {"composite": 0.97, "validity": 0.99}},
        quality_series={"product": [(60.0, 0.96), (120.0, 0.97)]},
    )
    (product,) = streams_view(store, prom, now_s=121.0)["streams"]
    assert product["rate_per_s"] == 7.5
    assert product["outcome_shares"]["quarantine"] == 0.05
    assert product["quality"]["composite"] == 0.97
    assert len(product["quality_series"]) == 2
    failed = streams_view(store, PromOverview(error="Prometheus at x: refused"), now_s=1.0)
    assert failed["source"] == "topics" and "refused" in failed["prometheus_error"]


def test_incidents_open_first_then_recent_resolved() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.incident("a", "behavior", "firing", at=1.0)
    feed.incident("b", "product", "firing", at=1.0)
    feed.incident("b", "product", "resolved", at=2.0)
    view = incidents_view(store)
    assert [i["incident_id"] for i in view["open"]] == ["a"]
    assert [i["incident_id"] for i in view["recent"]] == ["b"]
    assert [t["status"] for t in view["recent"][0]["timeline"]] == ["firing", "resolved"]
    assert incidents_view(store, "product")["open"] == []


def test_findings_series_and_masked_examples() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.finding("product", "semantic_drift", "description", 0.5, at=1.0)
    feed.finding("behavior", "schema_drift", "price", 0.7, at=2.0)
    view = findings_view(store, stream="product")
    (series,) = view["series"]
    assert series["field"] == "description" and series["points"][0]["threshold"] == 0.3
    assert view["recent"][0]["examples"][0] == "before: [email]"
    assert len(findings_view(store)["recent"]) == 2
