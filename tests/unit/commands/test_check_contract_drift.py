"""``check --contracts X --stream orders``: a stream only a contract declares gets the
drift engine and an anomaly score on the fields its schema declares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from tests.unit import drift_scenarios as sc

ORDERS_WITH_NOTE = """\
apiVersion: v3.1.0
kind: DataContract
id: shop-orders
version: 1.0.0
status: active
servers:
  - server: local
    type: kafka
    host: 127.0.0.1:9092
schema:
  - name: orders
    physicalName: shop.orders
    properties:
      - name: order_id
        logicalType: string
        required: true
        primaryKey: true
        partitioned: true
      - name: customer_id
        logicalType: string
      - name: status
        logicalType: string
        required: true
        enum: [{value: new}, {value: paid}]
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0}
      - name: note
        logicalType: string
      - name: ts
        logicalType: timestamp
        required: true
"""
BOILERPLATE = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Contact seller for details."


@pytest.fixture(autouse=True)
def _hashing_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")


def _orders(count: int, drift_at: int) -> list[dict[str, Any]]:
    """Orders whose ``note`` is a product description, then a vendor's boilerplate."""
    notes = [r["description"] for r in sc.synthetic_products(3 * count) if r.get("description")]
    return [
        {
            "order_id": f"o{i}",
            "customer_id": f"c{i % 97}",
            "status": ("new", "paid")[i % 2],
            "amount": 10.0 + i % 13,
            "note": notes[i % len(notes)] if i < drift_at else BOILERPLATE,
            "ts": 1_800_000_000_000 + i,
        }
        for i in range(count)
    ]


def _check(tmp_path: Path, records: list[dict[str, Any]], *extra: str) -> Path:
    contract = tmp_path / "orders.yaml"
    contract.write_text(ORDERS_WITH_NOTE)
    events = tmp_path / "orders.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    out = tmp_path / "out"
    args = [str(events), "--stream", "orders", "--contracts", str(contract), "--out", str(out)]
    assert cli.main(["check", *args, *extra]) == 0
    return out


def _read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_contract_stream_gets_semantic_drift_and_anomaly_scores(tmp_path: Path) -> None:
    out = _check(tmp_path, _orders(1800, drift_at=1200))
    findings = _read(out / "findings.jsonl")
    drift = [f for f in findings if f.get("kind") == "semantic_drift"]
    assert drift, [f.get("kind") for f in findings]
    assert {f["stream"] for f in drift} == {"orders"} and {f["field"] for f in drift} == {"note"}
    assert all(f["position"]["offset"] >= 1200 for f in drift)
    clean = _read(out / "clean.jsonl")
    assert len(clean) == 1800
    for record in clean:
        score = record["_dq"]["anomaly_score"]
        assert isinstance(score, float) and 0.0 <= score <= 1.0, record["_dq"]


def test_no_drift_before_the_change(tmp_path: Path) -> None:
    out = _check(tmp_path, _orders(1200, drift_at=1200))
    assert [f for f in _read(out / "findings.jsonl") if f.get("kind") == "semantic_drift"] == []


def test_an_absurd_amount_on_a_contract_stream_scores_high(tmp_path: Path) -> None:
    records = _orders(400, drift_at=400)
    records.append({**records[0], "order_id": "x", "amount": 1e7})
    out = _check(tmp_path, records, "--no-drift")
    clean = {r["order_id"]: r for r in _read(out / "clean.jsonl")}
    assert clean["x"]["_dq"]["anomaly_score"] >= 0.9
    assert all(isinstance(r["_dq"]["anomaly_score"], float) for r in clean.values())
