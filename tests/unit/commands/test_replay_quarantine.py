"""``streamguard replay-quarantine FILE`` through the CLI: what moves, what stays, once."""

from __future__ import annotations

import base64
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.events.records import Reason, SourcePosition, quarantine_value

NOW = "2026-12-01T00:00:00.000Z"


@pytest.fixture(autouse=True)
def _no_streamguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's STREAMGUARD_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def source_of(record: dict[str, Any]) -> tuple[str, int, int]:
    block = record["_dq"]["source"] if "_dq" in record else record["source"]
    return (block["topic"], block["partition"], block["offset"])


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def view(event_id: str, **changes: Any) -> bytes:
    event = {
        "event_id": event_id,
        "event_type": "view",
        "user_id": "u-1",
        "product_id": "p-1",
        "ts": "2026-11-01T10:00:00Z",
        **changes,
    }
    return orjson.dumps(event)


def held(raw: bytes, offset: int, *codes: str, topic: str = "events.behavior") -> bytes:
    """A quarantine record of ``raw`` read at ``topic[0]@offset``."""
    reasons = tuple(Reason(code, "event_type", "held") for code in codes)
    return quarantine_value(raw, SourcePosition(topic, 0, offset), reasons, NOW)


def test_file_mode_moves_exactly_what_the_fix_lets_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generator events with faults plus purchases without a price go through ``check``
    without a catalogue; replaying its quarantine with ``--catalogue`` (the fix) moves
    exactly the records that ``check --catalogue`` accepts and the first run did not,
    each once, though the input lists some of them twice."""
    events = tmp_path / "events.jsonl"
    generated = ["generate", "--stream", "behavior", "--count", "600", "--fault-rate", "0.3"]
    assert run_cli([*generated, "--seed", "7", "--out", str(events)], capsys)[0] == 0
    products = tmp_path / "products.jsonl"
    products.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "event_id": f"pe{i}",
                    "product_id": f"p-{i}",
                    "op": "upsert",
                    "price": 5.0 + i,
                    "currency": "EUR",
                    "ts": "2026-11-01T00:00:00Z",
                }
            )
            + b"\n"
            for i in range(5)
        )
    )
    purchases = [
        view(f"buy{i}", event_type="purchase", quantity=1, product_id=f"p-{i}") for i in range(5)
    ]
    with events.open("ab") as fh:
        fh.writelines(line + b"\n" for line in purchases)

    before, after = tmp_path / "before", tmp_path / "after"
    assert run_cli(["check", str(events), "--no-drift", "--out", str(before)], capsys)[0] == 0
    fixed = ["check", str(events), "--no-drift", "--catalogue", str(products)]
    assert run_cli([*fixed, "--out", str(after)], capsys)[0] == 0
    held_before = {source_of(r): r for r in read_jsonl(before / "quarantine.jsonl")}
    clean_after = {source_of(r) for r in read_jsonl(after / "clean.jsonl")}
    expected = set(held_before) & clean_after
    assert len(expected) == 5  # the purchases: the generator's faults still fail
    assert len(held_before) > 100

    lines = (before / "quarantine.jsonl").read_bytes().splitlines()
    movable = [i for i, line in enumerate(lines) if source_of(orjson.loads(line)) in expected]
    repeated = [lines[movable[0]], lines[movable[-1]], lines[0], lines[1]]
    bad = [b"not json", b'{"source": {"topic": "t", "partition": 0, "offset": 1}}']
    quarantine_file = tmp_path / "quarantine.jsonl"
    quarantine_file.write_bytes(b"\n".join([*lines, *repeated, *bad]) + b"\n")

    out = tmp_path / "replay"
    args = ["replay-quarantine", str(quarantine_file), "--stream", "behavior"]
    code, stdout, _ = run_cli([*args, "--catalogue", str(products), "--out", str(out)], capsys)
    assert code == 0
    assert "moved_to_clean" in stdout and "skipped_duplicates" in stdout

    clean = read_jsonl(out / "clean.jsonl")
    moved = [source_of(r) for r in clean]
    assert sorted(moved) == sorted(expected)  # exactly those, each once
    for record in clean:
        position = record["_dq"]["replayed_from"]
        assert position["topic"] == "file:quarantine.jsonl" and position["partition"] == 0
        # replayed_from is the line the record was first read from (0-based offset).
        assert source_of(orjson.loads(lines[position["offset"]])) == source_of(record)
        assert record["_dq"]["source"]["topic"] == "file:events.jsonl"
        assert {c["rule"] for c in record["_dq"]["corrections"]} == {"price_from_catalogue"}

    still = read_jsonl(out / "quarantine.jsonl")
    assert {source_of(r) for r in still} == set(held_before) - expected
    for record in still:  # today's reasons: the same pipeline decides the same
        original = held_before[source_of(record)]
        assert [r["code"] for r in record["reasons"]] == [r["code"] for r in original["reasons"]]
        assert record["replayed_from"]["topic"] == "file:quarantine.jsonl"
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [r["source"]["offset"] for r in rejects] == [len(lines) + 4, len(lines) + 5]
    assert [r["reasons"][0]["code"] for r in rejects] == ["decode_error", "missing_field"]

    report = orjson.loads((out / "report.json").read_bytes())
    assert report["read"] == len(lines) + len(repeated) + len(bad)
    assert report["moved_to_clean"] == 5
    assert report["still_quarantined"] == len(held_before) - 5
    assert report["replayed"] == len(held_before)
    assert report["skipped_duplicates"] == len(repeated)
    assert report["bad_lines"] == 2
    assert report["moved_by_original_reason"] == {"missing_field": 5}
    duplicates = sum(1 for r in held_before.values() if r["reasons"][0]["code"] == "duplicate")
    assert duplicates > 0
    assert report["kept_without_rerun"] == {"duplicate": duplicates}
    codes = Counter(c for r in still for c in {x["code"] for x in r["reasons"]})
    assert report["reasons"] == dict(codes)


def _allow(node: Any, value: str) -> bool:
    """Add ``value`` to the allowed values listed in an exported contract property."""
    if isinstance(node, list):
        if any(v == "view" or (isinstance(v, dict) and v.get("value") == "view") for v in node):
            node.append({"value": value} if isinstance(node[0], dict) else value)
            return True
        return any(_allow(v, value) for v in node)
    if isinstance(node, dict):
        return any(_allow(v, value) for v in node.values())
    return False


# open-data-contract-standard's json_schema() calls importlib.resources.open_text.
@pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning")
def test_a_contract_that_allows_an_event_type_moves_exactly_those_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fix is a contract: ``export`` the shipped rules, allow the generator's
    ``teleport`` event type, replay with ``--contracts``: exactly the records that
    ``check --contracts`` accepts and plain ``check`` did not move, stamped with the
    contract."""
    from streamguard.contracts.export import export_contract, to_yaml

    contract = export_contract("behavior", topic="events.behavior")
    (prop,) = [p for p in contract["schema"][0]["properties"] if p["name"] == "event_type"]
    assert _allow(prop, "teleport")
    widened = tmp_path / "behavior.yaml"
    widened.write_text(to_yaml(contract), encoding="utf-8")

    events = tmp_path / "events.jsonl"
    generated = ["generate", "--stream", "behavior", "--count", "800", "--fault-rate", "0.3"]
    assert run_cli([*generated, "--seed", "11", "--out", str(events)], capsys)[0] == 0
    before, after = tmp_path / "before", tmp_path / "after"
    assert run_cli(["check", str(events), "--no-drift", "--out", str(before)], capsys)[0] == 0
    fixed = ["check", str(events), "--no-drift", "--contracts", str(widened)]
    assert run_cli([*fixed, "--out", str(after)], capsys)[0] == 0
    held_before = {source_of(r) for r in read_jsonl(before / "quarantine.jsonl")}
    expected = held_before & {source_of(r) for r in read_jsonl(after / "clean.jsonl")}
    assert expected

    out = tmp_path / "replay"
    args = ["replay-quarantine", str(before / "quarantine.jsonl"), "--stream", "behavior"]
    assert run_cli([*args, "--contracts", str(widened), "--out", str(out)], capsys)[0] == 0
    clean = read_jsonl(out / "clean.jsonl")
    assert sorted(source_of(r) for r in clean) == sorted(expected)
    assert {r["event_type"] for r in clean} == {"teleport"}
    assert all(r["_dq"]["contract"]["version"] == contract["version"] for r in clean)
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["moved_by_original_reason"] == {"unknown_enum": len(expected)}
    assert report["still_quarantined"] == len(held_before) - len(expected)


def test_duplicates_stay_truncated_heads_stay_whole_values_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record quarantined as ``duplicate`` stays although its bytes pass; a truncated
    head stays; a value flagged truncated whose bytes are all there is re-run."""
    whole = orjson.loads(held(view("e3"), 3, "too_large"))
    whole.update(truncated=True, size=len(view("e3")))
    head = orjson.loads(held(view("e4")[:20], 4, "too_large"))
    head.update(truncated=True, size=5000)
    lines = [
        held(view("e1"), 1, "duplicate"),
        held(view("e2", event_type="unknown"), 2, "unknown_enum"),
        orjson.dumps(whole),
        orjson.dumps(head),
        held(view("e5"), 5, "unknown_enum", topic="events.product"),
        held(view("e6", event_type="VIEW"), 6, "unknown_enum"),
    ]
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    args = ["replay-quarantine", str(path), "--stream", "behavior", "--out", str(out)]
    assert run_cli(args, capsys)[0] == 0

    clean = read_jsonl(out / "clean.jsonl")
    assert [source_of(r)[2] for r in clean] == [3, 6]
    assert clean[1]["event_type"] == "view"  # repaired by today's rules
    assert clean[1]["_dq"]["status"] == "corrected"
    still = read_jsonl(out / "quarantine.jsonl")
    assert [source_of(r)[2] for r in still] == [1, 2, 4, 5]
    assert still[0]["reasons"][0]["code"] == "duplicate"
    assert still[3] == orjson.loads(lines[4])  # another stream's: unchanged
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["kept_without_rerun"] == {"duplicate": 1, "truncated": 1}
    assert report["not_replayed"] == {"other_stream": 1}
    assert (report["read"], report["replayed"], report["moved_to_clean"]) == (6, 5, 2)


def test_base64_raw_and_bad_encodings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    encoded = orjson.loads(held(view("e1"), 1, "unknown_enum"))
    encoded.update(raw=base64.b64encode(view("e1")).decode(), encoding="base64")
    broken = {**encoded, "raw": "%%%"}
    odd = {**encoded, "encoding": "latin-1"}
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in (encoded, broken, odd, [1])) + b"\n")
    out = tmp_path / "out"
    args = ["replay-quarantine", str(path), "--stream", "behavior", "--out", str(out)]
    assert run_cli(args, capsys)[0] == 0
    assert [source_of(r)[2] for r in read_jsonl(out / "clean.jsonl")] == [1]
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [r["reasons"][0]["code"] for r in rejects] == [
        "invalid_value",
        "invalid_value",
        "not_an_object",
    ]
    assert orjson.loads(rejects[0]["raw"]) == broken  # the rejected line, kept whole


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of them"),
        (["q.jsonl"], "needs --stream"),
        (["q.jsonl", "--stream", "behavior", "--partition", "0"], "--partition needs"),
        (["q.jsonl", "--from-topic", "streamguard.quarantine"], "one of them"),
        (["--from-topic", "streamguard.quarantine"], "embedded"),
        (["missing.jsonl", "--stream", "behavior"], "no such file"),
        (["q.jsonl", "--stream", "orders"], "unknown stream"),
        (["--from-topic", "q", "--bootstrap", "127.0.0.1:1"], "Kafka: "),  # refused
        (["q.jsonl", "--stream", "behavior", "--contracts", "none.yaml"], "invalid contract"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_bytes(b"")
    code, _, stderr = run_cli(["replay-quarantine", *args], capsys)
    assert code == 2
    assert message in stderr
