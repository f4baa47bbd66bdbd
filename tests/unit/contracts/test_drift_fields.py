"""The drift engine's fields of a contract-only stream, from the contract's schema."""

from __future__ import annotations

import orjson
import pytest

from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.contracts.drift_fields import drift_fields, new_stream_fields
from streamguard.contracts.loader import load_contract_text
from streamguard.drift.engine import DriftEngine
from streamguard.drift.stream_fields import StreamFields
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.wiring import build_anomaly_stamp, build_engines
from tests.unit.contracts.test_contracts import ORDERS

EXTRA = """\
      - name: customer_id
        logicalType: string
      - name: sku
        logicalType: string
        logicalTypeOptions: {pattern: "^[A-Z]{3}-[0-9]+$"}
      - name: contact
        logicalType: string
        logicalTypeOptions: {format: email}
      - name: day
        logicalType: date
      - name: note
        logicalType: string
      - name: qty
        logicalType: integer
"""


def test_fields_skip_keys_ids_timestamps_formats_patterns_and_pii() -> None:
    (contract,) = load_contract_text(
        ORDERS.replace("      - name: ts\n", EXTRA + "      - name: ts\n"), "orders.yaml"
    )
    fields = drift_fields(contract)
    assert fields.text == ("note",)
    assert fields.numeric == ("amount", "qty")
    assert (fields.group_field, fields.group_values) == ("status", ("new", "paid"))
    assert fields.declared == contract.fields
    assert set(contract.formatted) == {"contact", "day"}


def test_shipped_streams_get_no_contract_fields() -> None:
    (orders,) = load_contract_text(ORDERS, "orders.yaml")
    assert list(new_stream_fields(ContractSet({"orders": orders}))) == ["orders"]
    assert new_stream_fields(None) == {}


def test_engine_for_a_contract_stream_scores_and_groups() -> None:
    (orders,) = load_contract_text(ORDERS, "orders.yaml")
    fields = drift_fields(orders)
    engine = DriftEngine(
        "orders", fields=fields, embedder=HashingEmbedder(dim=32), synchronous=True
    )
    assert engine.text_fields == () and engine.schema.group_field == "status"
    pipeline = RecordPipeline("orders", observers=[engine], contract=orders)
    for i in range(300):
        raw = {"order_id": f"o{i}", "status": "paid", "amount": 10 + i % 7, "ts": 1_800_000_000_000}
        outcome = pipeline.process(orjson.dumps(raw), SourcePosition("t", 0, i))
        assert outcome.is_clean
    odd = {"order_id": "x", "status": "paid", "amount": 1e8, "ts": 1_800_000_000_000}
    outcome = pipeline.process(orjson.dumps(odd), SourcePosition("t", 0, 300))
    assert orjson.loads(outcome.value)["_dq"]["anomaly_score"] >= 0.9
    assert [f.kind for f in engine.drain_findings()] == ["anomaly"]


def test_an_unknown_stream_without_fields_still_fails() -> None:
    with pytest.raises(ValueError, match="unknown stream"):
        DriftEngine("orders")
    assert DriftEngine("orders", fields=StreamFields(declared=("a",))).text_fields == ()


def test_wiring_builds_and_adds_contract_engines() -> None:
    (orders,) = load_contract_text(ORDERS, "orders.yaml")
    contracts = ContractSet({"orders": orders})
    settings = Settings(model="hashing")
    engines = build_engines(settings, ["behavior", "orders"], synchronous=True, contracts=contracts)
    assert engines["orders"].schema.group_field == "status"
    shipped = build_engines(settings, ["behavior", "product"], synchronous=True)
    assert shipped.add_contracts(contracts) == ["orders"]
    assert shipped.add_contracts(contracts) == []
    added, product = shipped["orders"].embedding, shipped["product"].embedding
    assert added is not None and product is not None and added.cache is product.cache
    assert build_anomaly_stamp(settings, "orders", contracts).scorer.text_fields == ()
    assert build_anomaly_stamp(settings, "product", contracts).scorer.text_fields == (
        "title",
        "description",
        "category",
        "brand",
    )
