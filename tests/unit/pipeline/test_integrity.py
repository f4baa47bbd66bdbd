"""Cross-topic integrity: behaviour events for products the catalogue does not know (or
at a price far from it) are flagged in ``_dq.flags`` and counted, never quarantined."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from streamguard.events.records import SourcePosition
from streamguard.observability.metrics import WorkerMetrics
from streamguard.pipeline import RecordPipeline

CATALOGUE = {"p1": {"price": 10.0, "currency": "USD"}}


def event(product_id: str | None, **extra: Any) -> bytes:
    record: dict[str, Any] = {
        "event_id": f"e-{product_id}-{extra.get('price')}",
        "event_type": "view",
        "user_id": "u1",
        "ts": 1_800_000_000_000,
        **extra,
    }
    if product_id is None:
        record.update(event_type="search", query="shoes")
    else:
        record["product_id"] = product_id
    return orjson.dumps(record)


def test_lookup_results_are_flagged_not_quarantined() -> None:
    pipeline = RecordPipeline("behavior", catalogue=CATALOGUE)
    priced = {"event_type": "purchase", "currency": "USD", "quantity": 1}
    cases = {
        "hit": event("p1"),
        "hit at price": event("p1", price=11.0, **priced),
        "unknown": event("p404"),
        "mismatch": event("p1", price=40.0, **priced),
        "search": event(None),
    }
    outcomes = {
        name: pipeline.process(raw, SourcePosition("t", 0, i))
        for i, (name, raw) in enumerate(cases.items())
    }
    assert all(o.is_clean for o in outcomes.values())
    assert {name: o.catalogue for name, o in outcomes.items()} == {
        "hit": "hit",
        "hit at price": "hit",
        "unknown": "unknown_product",
        "mismatch": "price_mismatch",
        "search": None,
    }
    flags = {name: orjson.loads(o.value)["_dq"].get("flags") for name, o in outcomes.items()}
    assert flags["unknown"] == [{"code": "unknown_product", "field": "product_id"}]
    assert flags["mismatch"] == [{"code": "price_mismatch", "field": "price"}]
    assert flags["hit"] is None and flags["hit at price"] is None and flags["search"] is None
    # Flagging changes nothing else: the record is the same valid event.
    assert orjson.loads(outcomes["unknown"].value)["_dq"]["status"] == "valid"


def test_without_a_catalogue_nothing_is_looked_up() -> None:
    outcome = RecordPipeline("behavior").process(event("p404"), SourcePosition("t", 0, 0))
    assert outcome.catalogue is None and "flags" not in orjson.loads(outcome.value)["_dq"]


def test_lookups_are_counted_by_result() -> None:
    pipeline = RecordPipeline("behavior", catalogue=CATALOGUE)
    raws = [event("p1"), event("p404"), event("p405"), event(None)]
    outcomes = [pipeline.process(raw, SourcePosition("t", 0, i)) for i, raw in enumerate(raws)]
    registry = CollectorRegistry()
    WorkerMetrics(registry).observe_batch("behavior", outcomes, seconds=0.01)

    def count(result: str) -> float | None:
        return registry.get_sample_value(
            "streamguard_catalogue_lookups_total", {"stream": "behavior", "result": result}
        )

    assert (count("hit"), count("unknown_product"), count("price_mismatch")) == (1, 2, None)
