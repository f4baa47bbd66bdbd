"""Contracts: export -> load gives the shipped decisions; refinements change exactly what
they say; bad contracts are refused with a file and a line; new streams; _dq.contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streamguard.contracts import (
    ContractError,
    StreamContract,
    export_contract,
    load_contract_text,
    load_contracts,
    to_yaml,
)
from streamguard.events.records import Outcome, SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.sources.fault_kinds import FaultMix, GeneratedRecord
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex

NOW = 1_800_000_000.0


def pipeline(stream: str, contract: StreamContract | None = None) -> RecordPipeline:
    return RecordPipeline(
        stream,
        clock=lambda: NOW,
        dedupe=DedupeIndex(86_400, 1_000_000),
        contract=contract,
    )


def decision(outcome: Outcome) -> tuple[Any, ...]:
    return (
        outcome.status,
        sorted((r.code, r.field) for r in outcome.reasons),
        [c.as_dict() for c in outcome.corrections],
        outcome.key,
    )


def exported(stream: str) -> dict[str, Any]:
    return export_contract(stream)


def contract_of(document: dict[str, Any], name: str = "contract.yaml") -> StreamContract:
    return load_contract_text(to_yaml(document), name)[0]


def fault_mix(stream: str, count: int, seed: int) -> list[GeneratedRecord]:
    return list(generate(stream, count, seed=seed, faults=FaultMix.uniform(0.5, stream)))


@pytest.mark.parametrize("stream", ["behavior", "product"])
def test_exported_contract_decides_like_the_shipped_schema(stream: str) -> None:
    records = fault_mix(stream, 4000, seed=7)
    kinds = set(FaultMix.uniform(0.5, stream).rates(stream))  # type: ignore[arg-type]
    assert {r.fault for r in records if r.fault} == kinds  # every fault kind of the stream
    shipped, contracted = pipeline(stream), pipeline(stream, contract_of(exported(stream)))
    for offset, record in enumerate(records):
        source = SourcePosition(f"events.{stream}", 0, offset)
        want, got = shipped.process(record.value, source), contracted.process(record.value, source)
        assert decision(got) == decision(want), (record.fault, record.value[:200])
        if want.record is not None:
            assert got.record is not None
            dq = got.record.pop("_dq")
            assert got.record == {k: v for k, v in want.record.items() if k != "_dq"}
            assert dq["contract"]["id"] == f"streamguard-{stream}"


def _property(document: dict[str, Any], name: str) -> dict[str, Any]:
    props = document["schema"][0]["properties"]
    return next(p for p in props if p["name"] == name)


def _changed(
    stream: str, edit: Callable[[dict[str, Any]], None], records: list[GeneratedRecord]
) -> list[tuple[GeneratedRecord, tuple[Any, ...], tuple[Any, ...]]]:
    document = exported(stream)
    edit(document)
    shipped, contracted = pipeline(stream), pipeline(stream, contract_of(document))
    changed = []
    for offset, record in enumerate(records):
        source = SourcePosition("events.behavior", 0, offset)
        want = decision(shipped.process(record.value, source))
        got = decision(contracted.process(record.value, source))
        if want != got:
            changed.append((record, want, got))
    return changed


def _event(**fields: Any) -> GeneratedRecord:
    event = {
        "event_id": fields.pop("event_id"),
        "event_type": "view",
        "user_id": "u1",
        "product_id": "p1",
        "ts": 1_800_000_000_000,
        **fields,
    }
    return GeneratedRecord("behavior", b"u1", orjson.dumps(event), None, "valid", None)


def test_an_added_event_type_lets_exactly_those_events_through() -> None:
    records = fault_mix("behavior", 2000, seed=3)
    wishlist = [_event(event_id=f"w{i}", event_type="wishlist") for i in range(5)]
    other = [_event(event_id=f"x{i}", event_type="teleport") for i in range(5)]

    def add_wishlist(document: dict[str, Any]) -> None:
        _property(document, "event_type")["enum"].append({"value": "wishlist"})

    changed = _changed("behavior", add_wishlist, records + wishlist + other)
    assert [r.value for r, _, _ in changed] == [r.value for r in wishlist]
    for _, want, got in changed:
        assert want[:2] == ("quarantine", [("unknown_enum", "event_type")])
        assert got[0] == "valid"


def test_a_widened_range_changes_exactly_the_records_in_the_new_range() -> None:
    records = fault_mix("behavior", 2000, seed=5)
    purchase = {"event_type": "purchase", "price": 5.0, "currency": "EUR"}
    big = [_event(event_id=f"b{i}", quantity=2_000_000 + i, **purchase) for i in range(3)]
    huge = [_event(event_id=f"h{i}", quantity=9_000_000 + i, **purchase) for i in range(3)]

    def widen(document: dict[str, Any]) -> None:
        _property(document, "quantity")["logicalTypeOptions"]["maximum"] = 5_000_000

    changed = _changed("behavior", widen, records + big + huge)
    assert [r.value for r, _, _ in changed] == [r.value for r in big]
    for _, want, got in changed:
        assert want[:2] == ("quarantine", [("out_of_range", "quantity")])
        assert got[0] == "valid"


def test_clean_records_carry_the_contract_id_version_and_content_hash() -> None:
    document = exported("product")
    first = contract_of(document)
    # Comments and formatting are not content: the same hash.
    again = load_contract_text("# a comment\n" + to_yaml(document), "other.yaml")[0]
    document["version"] = "1.1.0"
    bumped = contract_of(document)
    assert first.hash == again.hash != bumped.hash
    assert len(first.hash) == 64
    raw = b'{"event_id": "e1", "product_id": "p1", "op": "upsert", "ts": 1800000000000}'
    outcome = pipeline("product", first).process(raw, SourcePosition("events.product", 0, 0))
    assert outcome.record is not None
    assert outcome.record["_dq"]["contract"] == {
        "id": "streamguard-product",
        "version": "1.0.0",
        "hash": first.hash,
    }


ORDERS = """\
apiVersion: v3.1.0
kind: DataContract
id: shop-orders
version: 1.2.0
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
      - name: status
        logicalType: string
        required: true
        enum: [{value: new}, {value: paid}]
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0}
        quality:
          - metric: nullValues
            mustBe: 0
      - name: email
        logicalType: string
        customProperties: [{property: pii, value: mask}]
      - name: ts
        logicalType: timestamp
        required: true
    quality:
      - metric: rowCount
        mustBeGreaterThan: 100
      - type: text
        description: orders are paid within a day
"""


def test_a_new_stream_is_checked_by_its_own_contract() -> None:
    (contract,) = load_contract_text(ORDERS, "orders.yaml")
    assert (contract.stream, contract.topic, contract.clean_topic) == (
        "orders",
        "shop.orders",
        "shop.orders.clean",
    )
    assert (contract.key_field, contract.id_field, contract.time_field) == (
        "order_id",
        "order_id",
        "ts",
    )
    assert contract.pii == {"email": "mask"}
    assert len(contract.unsupported) == 2  # listed, not dropped
    assert "rowCount" in contract.unsupported[0] and "text" in contract.unsupported[1]
    orders = pipeline("orders", contract)
    cases = [
        ({"order_id": "o1", "status": "new", "amount": 3, "ts": 1_800_000_000_000}, "valid", []),
        (
            {"order_id": "o2", "status": "lost", "amount": 3, "ts": 1},
            "quarantine",
            [("invalid_value", "ts"), ("unknown_enum", "status")],
        ),
        (
            {"order_id": "o3", "status": "new", "ts": 1_800_000_000_000},
            "quarantine",
            [("missing_field", "amount")],
        ),
        (
            {"order_id": "o4", "status": "paid", "amount": -1, "ts": "2027-01-15T08:00:00Z"},
            "quarantine",
            [("out_of_range", "amount")],
        ),
        (
            {"order_id": "o1", "status": "new", "amount": 3, "ts": 1_800_000_000_000},
            "quarantine",
            [("duplicate", "order_id")],
        ),
    ]
    for offset, (record, status, reasons) in enumerate(cases):
        outcome = orders.process(orjson.dumps(record), SourcePosition("shop.orders", 0, offset))
        assert (outcome.status, sorted((r.code, r.field) for r in outcome.reasons)) == (
            status,
            reasons,
        ), record
    first = orders.process(
        orjson.dumps({"order_id": "o9", "status": "paid", "amount": 1.5, "ts": 1_800_000_000_000}),
        SourcePosition("shop.orders", 0, 9),
    )
    assert first.key == b"o9"
    assert first.record is not None
    assert first.record["ts"] == "2027-01-15T08:00:00.000Z"
    assert first.record["_dq"]["schema_version"] == "orders@1.2.0"
    assert first.record["_dq"]["contract"]["id"] == "shop-orders"


def _line(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` containing ``needle``."""
    (found,) = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return found


def _issues(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ContractError) as caught:
        load_contract_text(text, "bad.yaml")
    return [(issue.line, issue.message) for issue in caught.value.issues]


def test_invalid_contracts_name_the_line_and_the_problem() -> None:
    assert _issues("apiVersion: v3.1.0\nkind: DataContract\nid: x\n  version: [1\n") == [
        (4, "YAML syntax: mapping values are not allowed here")
    ]
    typo = ORDERS.replace(
        "        required: true\n        enum", "        requird: true\n        enum"
    )
    ((line, message),) = _issues(typo)
    assert line == _line(typo, "requird") and "unknown key 'requird'" in message
    bad_type = ORDERS.replace("logicalType: number", "logicalType: numbr")
    ((line, message),) = _issues(bad_type)
    assert line == _line(bad_type, "numbr") and "'numbr' is not one of" in message
    bad_option = ORDERS.replace("{minimum: 0}", "{minimum: 0, maxLength: 3}")
    ((line, message),) = _issues(bad_option)
    assert line == _line(bad_option, "maxLength") and "maxLength" in message
    bad_pii = ORDERS.replace("value: mask", "value: hide")
    ((line, message),) = _issues(bad_pii)
    assert line == _line(bad_pii, "hide")
    assert "pii must be one of report, mask, quarantine, not 'hide'" in message
    servers = "servers:\n  - server: local\n    type: kafka\n    host: 127.0.0.1:9092\n"
    no_server = ORDERS.replace(servers, "")
    assert no_server != ORDERS
    messages = [m for _, m in _issues(no_server)]
    assert any("unknown stream" in m for m in messages), messages


def test_a_shipped_stream_must_keep_its_key_required() -> None:
    document = exported("behavior")
    _property(document, "user_id").pop("required")
    ((line, message),) = _issues(to_yaml(document))
    assert line is not None and "user_id must be declared and required" in message


def test_a_directory_of_contracts_loads_each_stream_once(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(ORDERS)
    (tmp_path / "behavior.yml").write_text(to_yaml(exported("behavior")))
    (tmp_path / "notes.txt").write_text("not a contract")
    contracts = load_contracts(tmp_path)
    assert sorted(contracts) == ["behavior", "orders"]
    assert [c.stream for c in contracts.new_streams()] == ["orders"]
    (tmp_path / "again.yaml").write_text(ORDERS.replace("id: shop-orders", "id: twice"))
    with pytest.raises(ContractError, match="already has a contract"):
        load_contracts(tmp_path)


def test_the_export_is_valid_odcs_and_round_trips_through_yaml() -> None:
    for stream in ("behavior", "product"):
        document = exported(stream)
        assert yaml.safe_load(to_yaml(document)) == document
        contract = contract_of(document)
        assert contract.shipped and contract.unsupported == ()


def test_the_fast_path_does_not_accept_what_a_stricter_contract_rejects() -> None:
    document = exported("behavior")
    _property(document, "platform")["enum"] = [{"value": "web"}]
    _property(document, "session_id")["required"] = True
    strict = pipeline("behavior", contract_of(document))
    fine = _event(event_id="e1", platform="web", session_id="s1")
    ios = _event(event_id="e2", platform="ios", session_id="s1")
    no_session = _event(event_id="e3", platform="web")
    for offset, (record, want) in enumerate(
        [
            (fine, ("valid", [])),
            (ios, ("quarantine", [("unknown_enum", "platform")])),
            (no_session, ("quarantine", [("missing_field", "session_id")])),
        ]
    ):
        # The shipped fused check would take each of these as valid.
        assert pipeline("behavior").process(record.value, SourcePosition("t", 0, 0)).is_clean
        got = decision(strict.process(record.value, SourcePosition("t", 0, offset)))
        assert got[:2] == want
