"""``streamguard contract export|infer`` and ``--contracts`` on check and inventory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.contracts import load_contracts
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from tests.unit.contracts.test_contracts import ORDERS


@pytest.fixture(autouse=True)
def _no_streamguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_export_writes_a_contract_that_check_uses_with_the_same_outcomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = tmp_path / "behavior.yaml"
    assert (
        run(["contract", "export", "--stream", "behavior", "--out", str(contract)], capsys)[0] == 0
    )
    assert load_contracts(contract)["behavior"].topic is None  # a shipped stream
    events = tmp_path / "events.jsonl"
    faults = FaultMix.uniform(0.3, "behavior")
    events.write_bytes(
        b"\n".join(r.value for r in generate("behavior", 600, seed=2, faults=faults))
    )
    plain, under = tmp_path / "plain", tmp_path / "under"
    base = ["check", str(events), "--no-drift"]
    assert run([*base, "--out", str(plain)], capsys)[0] == 0
    assert run([*base, "--out", str(under), "--contracts", str(contract)], capsys)[0] == 0
    want = orjson.loads((plain / "report.json").read_bytes())
    got = orjson.loads((under / "report.json").read_bytes())
    assert got["outcomes"] == want["outcomes"]
    assert got["reasons_by_field"] == want["reasons_by_field"]
    clean = read_jsonl(under / "clean.jsonl")
    assert clean and all(r["_dq"]["contract"]["id"] == "streamguard-behavior" for r in clean)
    assert all("contract" not in r["_dq"] for r in read_jsonl(plain / "clean.jsonl"))


def test_an_invalid_contract_exits_2_with_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "orders.yaml"
    text = ORDERS.replace("logicalType: number", "logicalType: numbr")
    bad.write_text(text)
    (line,) = [n for n, row in enumerate(text.splitlines(), 1) if "numbr" in row]
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    for command in (["check", str(events)], ["inventory", str(events)]):
        code, _, err = run([*command, "--contracts", str(bad)], capsys)
        assert code == 2
        assert f"{bad}:{line}: schema[0].properties[2].logicalType: 'numbr'" in err, err


def test_check_a_new_stream_and_list_the_rules_it_cannot_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = tmp_path / "orders.yaml"
    contract.write_text(ORDERS)
    events = tmp_path / "orders.jsonl"
    lines = [
        {
            "order_id": "o1",
            "status": "new",
            "amount": 3,
            "ts": 1_800_000_000_000,
            "email": "ana@example.com",
        },
        {"order_id": "o2", "status": "lost", "amount": 3, "ts": 1_800_000_000_000},
    ]
    events.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    out = tmp_path / "out"
    code, stdout, err = run(
        [
            "check",
            str(events),
            "--stream",
            "orders",
            "--contracts",
            str(contract),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert "(orders stream)" in stdout
    assert "contract rule not evaluated: orders: record: quality rule #1" in err
    assert "rowCount" in err
    (clean,) = read_jsonl(out / "clean.jsonl")
    assert clean["email"] == "[email]"  # the contract's pii: mask
    assert clean["_dq"]["contract"]["version"] == "1.2.0"
    (quarantined,) = read_jsonl(out / "quarantine.jsonl")
    assert quarantined["reasons"][0]["code"] == "unknown_enum"
    assert run(["check", str(events), "--stream", "orders"], capsys)[0] == 2  # no contract


def test_infer_drafts_a_contract_that_loads_and_checks_the_same_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "orders.jsonl"
    events.write_bytes(
        b"\n".join(
            orjson.dumps(
                {
                    "order_id": f"o{i}",
                    "status": ("new", "paid")[i % 2],
                    "qty": 1 + i % 7,
                    "ts": 1_800_000_000_000 + i,
                }
            )
            for i in range(300)
        )
    )
    draft = tmp_path / "draft.yaml"
    code, _, err = run(["contract", "infer", str(events), "--out", str(draft)], capsys)
    assert code == 0 and "needs editing" not in err, err
    contract = load_contracts(draft)["orders"]
    assert contract.key_field == "order_id" and contract.time_field == "ts"
    props = contract.json_schema["properties"]
    assert props["status"]["enum"] == ["new", "paid"]
    assert (props["qty"]["minimum"], props["qty"]["maximum"]) == (1, 7)
    assert set(contract.required) == {"order_id", "status", "qty", "ts"}
    out = tmp_path / "out"
    args = ["check", str(events), "--stream", "orders", "--contracts", str(draft)]
    assert run([*args, "--out", str(out)], capsys)[0] == 0
    assert orjson.loads((out / "report.json").read_bytes())["outcomes"]["valid"] == 300


def test_inventory_marks_the_fields_a_contract_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = tmp_path / "orders.yaml"
    contract.write_text(ORDERS)
    events = tmp_path / "orders.jsonl"
    events.write_bytes(orjson.dumps({"order_id": "o1", "extra": 1, "ts": 1_800_000_000_000}))
    out = tmp_path / "inv"
    args = ["inventory", str(events), "--stream", "orders", "--contracts", str(contract)]
    assert run([*args, "--out", str(out)], capsys)[0] == 0
    (stream,) = orjson.loads((out / "inventory.json").read_bytes())["streams"]
    assert stream["schema"] == "orders@1.2.0"
    marks = {f["path"]: f["in_schema"] for f in stream["fields"]}
    assert marks == {"order_id": True, "ts": True, "extra": False}
