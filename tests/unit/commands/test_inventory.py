"""``streamguard inventory``: exit codes, inventory.json shape, no raw PII out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamguard.cli import main
from tests.unit.drift_scenarios import olist


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_writes_inventory_without_raw_pii(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        orjson.dumps({"id": i, "mail_addr": "ana@example.com", "note": "card 4111 1111 1111 1111"})
        for i in range(50)
    ] + [b"not json", b"[1, 2]"]
    source = _write(tmp_path / "in.jsonl", lines)
    assert main(["inventory", str(source), "--stream", "behavior", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    text = (tmp_path / "inventory.json").read_text()
    for raw in ("ana@example.com", "4111"):
        assert raw not in out and raw not in text
    inventory = orjson.loads(text)
    assert set(inventory) >= {"generated_at", "streams"}
    (stream,) = inventory["streams"]
    assert (stream["records"], stream["objects"], stream["schema"]) == (52, 50, "behavior.v1")
    assert stream["source"] == "file:in.jsonl" and "lineage" in stream
    mail = next(f for f in stream["fields"] if f["path"] == "mail_addr")
    assert set(mail) >= {
        "path",
        "presence",
        "types",
        "distinct_estimate",
        "numeric",
        "top_values",
        "tags",
        "pii",
        "in_schema",
    }
    assert mail["pii"] == {"email": 1.0} and mail["tags"][0]["tag"] == "email"
    assert mail["top_values"] == [{"value": "[email]", "share": 1.0}]
    assert mail["in_schema"] is False
    assert "mail_addr" in out and "PII email" in out


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["inventory", str(tmp_path / "absent.jsonl")]) == 2


def test_unwritable_out_exits_2(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", [b'{"a": 1}'])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["inventory", str(source), "--out", str(blocker)]) == 2


def test_olist_products_through_replay(tmp_path: Path) -> None:
    olist(limit=1)  # skips with the reason when ../shared/data is absent
    events = tmp_path / "olist.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streamguard.cli",
            "replay",
            "--dataset",
            "olist-products",
            "--out",
            str(events),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = tmp_path / "inv"
    assert main(["inventory", str(events), "--stream", "product", "--out", str(out)]) == 0
    (stream,) = orjson.loads((out / "inventory.json").read_bytes())["streams"]
    assert stream["objects"] > 30_000
    fields = {f["path"]: f for f in stream["fields"]}
    assert fields["category"]["presence"] < 1.0  # Olist has products without category
    assert fields["product_id"]["tags"][0]["tag"] == "identifier"
    weight = next(f for p, f in fields.items() if "weight" in p)
    assert weight["tags"][0]["tag"] == "weight" and weight["numeric"]["min"] == 0
    assert all(not f["pii"] for f in stream["fields"])  # a catalogue holds no personal data
