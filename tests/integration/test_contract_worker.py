"""A stream declared only in a data contract, checked by the worker through the real
embedded broker: valid records reach ``<topic>.clean``, bad ones the shared quarantine;
an invalid contract keeps the worker from starting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.testing.worker_harness import (
    Topics,
    new_worker,
    read_outputs,
    wait_until,
    worker_env,
)
from tests.unit.contracts.test_contracts import ORDERS

pytestmark = pytest.mark.integration


class ContractTopics(Topics):
    """The harness's topics, reading the contract stream's clean topic and the quarantine."""

    orders: str = ""

    def outputs(self) -> tuple[str, ...]:
        return (f"{self.orders}.clean", self.quarantine)


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> list[tuple[str, int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=5000)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=b"k%d" % i) for i, value in enumerate(values)
        ]
        return [(m.topic, m.partition, m.offset) for m in [await f for f in futures]]
    finally:
        await producer.stop()


def test_a_stream_declared_only_in_a_contract_is_checked_end_to_end(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    base = Topics.unique()
    topics = ContractTopics(**base.__dict__)
    topics.orders = f"shop.orders.{uuid.uuid4().hex[:8]}"
    contract = tmp_path / "orders.yaml"
    contract.write_text(
        ORDERS.replace("physicalName: shop.orders", f"physicalName: {topics.orders}")
    )
    _, worker = new_worker(
        broker.bootstrap,
        tmp_path,
        topics=base,
        STREAMGUARD_CONTRACTS=str(contract),
        STREAMGUARD_MODEL="hashing",
        STREAMGUARD_INVENTORY_PUBLISH_INTERVAL_S="1",
    )
    good = [
        {"order_id": f"o{i}", "status": "paid", "amount": i, "ts": 1_800_000_000_000 + i}
        for i in range(40)
    ]
    bad = [
        {"order_id": "b1", "status": "lost", "amount": 1, "ts": 1_800_000_000_000},
        {"order_id": "b2", "status": "new", "amount": -5, "ts": 1_800_000_000_000},
        {"status": "new", "amount": 1, "ts": 1_800_000_000_000},
    ]
    values = [orjson.dumps(r) for r in good + bad] + [b"not json"]
    try:
        worker.start().wait_ready()
        placed = asyncio.run(_produce(broker.bootstrap, topics.orders, values))
        outputs = asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
        landed = {source: {t for t, _ in seen} for source, seen in outputs.by_source.items()}
        clean_topic = f"{topics.orders}.clean"
        assert [landed[s] for s in placed[: len(good)]] == [{clean_topic}] * len(good)
        assert [landed[s] for s in placed[len(good) :]] == [{topics.quarantine}] * 4
        clean = outputs.by_source[placed[0]][0][1]
        assert clean["_dq"]["contract"]["id"] == "shop-orders"
        assert clean["_dq"]["schema_version"] == "orders@1.2.0"
        # the stream's own drift engine scored every clean record
        scores = [outputs.by_source[s][0][1]["_dq"]["anomaly_score"] for s in placed[: len(good)]]
        assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in scores), scores
        codes = [outputs.by_source[s][0][1]["reasons"][0]["code"] for s in placed[len(good) :]]
        assert codes == ["unknown_enum", "out_of_range", "missing_field", "decode_error"]
        assert 'streamguard_records_in_total{stream="orders"}' in worker.metrics_text()
        log = worker.log_path.read_text(errors="replace")
        assert "contract rule not evaluated: orders: record: quality rule #1" in log

        def inventory_of_orders() -> dict[str, Any] | None:
            status, body = worker._get("/api/inventory")  # noqa: SLF001 - the harness's GET
            if status != 200:
                return None
            streams = orjson.loads(body).get("streams") or []
            return next((s for s in streams if s.get("stream") == "orders"), None)

        wait_until(lambda: inventory_of_orders() is not None, 30, "the inventory of orders")
        orders = inventory_of_orders()
        assert orders is not None and orders["schema"] == "orders@1.2.0"
        marks = {f["path"]: f["in_schema"] for f in orders["fields"]}
        assert marks["order_id"] is True and marks["amount"] is True
        assert worker.stop() == 0
    finally:
        if worker.process is not None and worker.process.poll() is None:
            worker.stop()


def test_the_worker_refuses_to_start_on_an_invalid_contract(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    contract = tmp_path / "orders.yaml"
    text = ORDERS.replace("logicalType: number", "logicalType: numbr")
    contract.write_text(text)
    (line,) = [n for n, row in enumerate(text.splitlines(), 1) if "numbr" in row]
    env = worker_env(
        broker.bootstrap,
        Topics.unique(),
        tmp_path / "state",
        0,
        STREAMGUARD_CONTRACTS=str(contract),
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streamguard.cli", "worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{contract}:{line}: schema[0].properties[2].logicalType" in done.stderr.decode()
