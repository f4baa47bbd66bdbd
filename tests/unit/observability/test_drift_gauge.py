"""The schema-drift gauge exports the block's largest change, not the last one written
(item 8): a 0.7 presence drop on ``brand`` fires a finding and the gauge reads 0.7."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streamguard.drift.engine import DriftEngine
from streamguard.events.records import SourcePosition
from streamguard.observability.drift import DriftMetrics, export_engine

LABELS = {"stream": "product", "field": "brand", "detector": "schema"}


def product(i: int, *, brand: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": f"e{i}", "product_id": f"p{i}", "op": "upsert", "title": "Casa kettle",
        "price": 20.0, "ts": "2026-11-01T00:00:00Z",
    }  # fmt: skip
    if brand:
        record["brand"] = "Casa"
    return record


def test_the_gauge_reads_the_change_that_fired() -> None:
    registry = CollectorRegistry()
    metrics = DriftMetrics(registry)
    engine = DriftEngine("product")
    for i in range(300):
        engine.on_decoded(product(i, brand=True), SourcePosition("t", 0, i))
    export_engine(engine, metrics)
    assert registry.get_sample_value("streamguard_drift_statistic", LABELS) == pytest.approx(0.0)
    for i in range(300, 400):
        engine.on_decoded(product(i, brand=i % 10 < 3), SourcePosition("t", 0, i))
    found = [f for f in engine.drain_findings() if f.field == "brand"]
    assert [f.details["change"] for f in found] == ["missing"]
    export_engine(engine, metrics)
    statistic = registry.get_sample_value("streamguard_drift_statistic", LABELS)
    threshold = registry.get_sample_value("streamguard_drift_threshold", LABELS)
    assert statistic == pytest.approx(found[0].statistic) == pytest.approx(0.7)
    assert threshold == pytest.approx(found[0].threshold) and statistic >= threshold


def test_unknown_fields_sharing_a_label_keep_the_largest() -> None:
    registry = CollectorRegistry()
    metrics = DriftMetrics(registry)
    engine = DriftEngine("product")
    for i in range(200):  # the warm-up: both undeclared fields join the reference
        record = {"vendor_b": 1.0, "vendor_a": 1.0, **product(i, brand=True)}
        engine.on_decoded(record, SourcePosition("t", 0, i))
    for i in range(200, 300):  # vendor_b turns into a string (and is written first)
        record = {"vendor_b": "1.0", "vendor_a": 1.0, **product(i, brand=True)}
        engine.on_decoded(record, SourcePosition("t", 0, i))
    export_engine(engine, metrics)
    other = {"stream": "product", "field": "_other", "detector": "schema"}
    assert registry.get_sample_value("streamguard_drift_statistic", other) == pytest.approx(1.0)


def test_help_text_says_what_the_gauge_holds() -> None:
    registry = CollectorRegistry()
    DriftMetrics(registry)
    (family,) = [m for m in registry.collect() if m.name == "streamguard_drift_statistic"]
    assert "largest" in family.documentation and "since the last export" in family.documentation
