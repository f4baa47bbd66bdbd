"""``streamguard check`` with a PII policy from a config file and from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli


@pytest.fixture(autouse=True)
def _no_streamguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")


def event(event_id: str, query: str) -> bytes:
    record: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "search",
        "user_id": "u-1",
        "query": query,
        "ts": "2026-11-01T10:00:00Z",
    }
    return orjson.dumps(record)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    lines = [
        event("e0", "running shoes"),
        event("e1", "ship to ana.silva@example.com please"),
        event("e2", "call me +55 11 91234-5678"),
        event("e3", "order 1793491300000 size 42"),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_check(args: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    code = cli.main(args)
    capsys.readouterr()
    return code


def test_mask_policy_from_a_config_file(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "streamguard.toml"
    config.write_text('[streamguard.pii_policy.behavior]\nquery = "mask"\n')
    out = tmp_path / "out"
    args = ["--config", str(config), "check", str(events), "--out", str(out), "--no-drift"]
    assert run_check(args, capsys) == 0
    clean = read_jsonl(out / "clean.jsonl")
    assert [r["query"] for r in clean] == [
        "running shoes",
        "ship to [email] please",
        "call me [phone]",
        "order 1793491300000 size 42",  # an epoch timestamp is no phone
    ]
    assert [r["_dq"]["status"] for r in clean] == ["valid", "corrected", "corrected", "valid"]
    assert clean[1]["_dq"]["corrections"] == [
        {"field": "query", "from": "[redacted]", "to": "ship to [email] please", "rule": "pii_mask"}
    ]
    body = (out / "clean.jsonl").read_bytes()
    assert b"ana.silva@example.com" not in body and b"91234" not in body
    assert (out / "quarantine.jsonl").read_bytes() == b""


def test_quarantine_policy_from_the_environment(
    events: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMGUARD_PII_POLICY", '{"*": {"*": "quarantine"}}')
    out = tmp_path / "out"
    assert run_check(["check", str(events), "--out", str(out), "--no-drift"], capsys) == 0
    quarantined = read_jsonl(out / "quarantine.jsonl")
    assert [[(r["code"], r["field"]) for r in q["reasons"]] for q in quarantined] == [
        [("pii_detected", "query")],
        [("pii_detected", "query")],
    ]
    assert "ana.silva@example.com" in quarantined[0]["raw"]  # raw bytes keep PII, by design
    assert [r["event_id"] for r in read_jsonl(out / "clean.jsonl")] == ["e0", "e3"]
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["reasons"] == {"pii_detected": 2}


def test_a_bad_policy_in_the_config_exits_2(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "streamguard.toml"
    config.write_text('[streamguard.pii_policy.behavior]\nquery = "drop"\n')
    code = cli.main(["--config", str(config), "check", str(events), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "pii_policy" in capsys.readouterr().err
