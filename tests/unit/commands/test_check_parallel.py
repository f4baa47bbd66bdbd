"""``check`` with quality, the clean file, schema drift and the embedded texts' detectors
in a child process: the same outputs (findings in the same order, clean records, report)
as one process (forked or without fork); a child that fails fails the run."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.commands import check_parallel
from streamguard.commands.check import check_file
from streamguard.config import Settings
from streamguard.drift.engine import DriftEngine
from streamguard.pipeline import RecordPipeline
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from tests.unit.drift_scenarios import portuguese_feed


def _records() -> list[dict[str, Any]]:
    """Products with schema drift (price as text, a new field), a feed turning
    Portuguese (semantic drift), absurd prices (anomalies) and junk lines, interleaved."""
    rng = random.Random(4)
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(generate("product", 3000, seed=3)):
        record = orjson.loads(raw.value)
        if i >= 1500 and i % 3 == 0 and isinstance(record.get("price"), float):
            record["price"] = f"{record['price']:.2f}"
        if i >= 2000 and i % 2 == 0:
            record["warehouse"] = f"w{i % 7}"
        if i >= 800 and rng.random() < 0.01 and isinstance(record.get("price"), float):
            record["price"] = record["price"] * 5000
        if i >= 2400:
            record = portuguese_feed(record, i) or record
        out.append(record)
    return out


def _run(folder: Path, *, offload: bool) -> list[dict[str, Any]]:
    path = folder / "events.jsonl"
    if not path.exists():
        lines = [orjson.dumps(r) for r in _records()]
        lines[100:100] = [b"not json", b"[1, 2]"]
        path.write_bytes(b"\n".join(lines) + b"\n")
    out = folder / ("split" if offload else "one")
    check_file(path, "product", out, Settings(model="hashing"), offload=offload)
    return _findings(out)


def _findings(out: Path) -> list[dict[str, Any]]:
    findings = [orjson.loads(line) for line in (out / "findings.jsonl").read_bytes().splitlines()]
    for finding in findings:
        finding.pop("detected_at", None)
    return findings


def _outputs(out: Path) -> dict[str, Any]:
    """Everything a run wrote, timestamps and the folder's name aside."""
    clean = [orjson.loads(line) for line in (out / "clean.jsonl").read_bytes().splitlines()]
    for record in clean:
        record["_dq"].pop("checked_at")
    quarantine = (out / "quarantine.jsonl").read_bytes().splitlines()
    report = orjson.loads((out / "report.json").read_bytes())
    for key in ("elapsed_s", "records_per_s", "files", "findings"):
        report.pop(key, None)
    return {
        "clean": clean,
        "clean_bytes": [
            re.sub(rb'"checked_at":"[^"]*"', b"", line)
            for line in (out / "clean.jsonl").read_bytes().splitlines()
        ],
        "quarantine": [orjson.loads(line)["reasons"] for line in quarantine],
        "report": report,
        "findings": _findings(out) if (out / "findings.jsonl").exists() else None,
    }


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("check")
    return folder, _run(folder, offload=False)


def test_forked_schema_drift_gives_the_same_findings_in_the_same_order(
    one_process: tuple[Path, list[dict[str, Any]]],
) -> None:
    folder, expected = one_process
    kinds = [f["kind"] for f in expected]
    # the three sources of findings, interleaved: the merge order is exercised
    assert {"schema_drift", "semantic_drift", "anomaly"} <= set(kinds)
    assert "schema_drift" in kinds[kinds.index("anomaly") :]
    assert "anomaly" in kinds[kinds.index("semantic_drift") :]
    assert _run(folder, offload=True) == expected


def test_without_fork_the_engine_runs_here(
    one_process: tuple[Path, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, expected = one_process
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    started: list[object] = []
    real = check_parallel.CheckOffload.start

    def spy(*args: Any) -> Any:
        started.append(real(*args))
        return started[-1]

    monkeypatch.setattr(check_parallel.CheckOffload, "start", spy)
    assert _run(folder, offload=True) == expected
    assert started == [None]


def test_a_failing_child_fails_the_run(
    one_process: tuple[Path, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = one_process
    parent = os.getpid()

    def boom(self: DriftEngine, items: Any, vectors: Any) -> None:
        assert os.getpid() != parent  # the pipeline's process only learns the vectors
        raise RuntimeError("detector bug")

    monkeypatch.setattr(DriftEngine, "detect_vectors", boom)
    with pytest.raises(check_parallel.OffloadError, match="detector bug"):
        _run(folder, offload=True)
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")
    args = ["check", str(folder / "events.jsonl"), "--stream", "product"]
    code = cli.main([*args, "--out", str(folder / "cli")])
    assert code == 2 and "RuntimeError: detector bug" in capsys.readouterr().err


def test_a_run_that_fails_stops_its_child(
    one_process: tuple[Path, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = one_process
    real = RecordPipeline.process

    def fails_later(self: RecordPipeline, raw: bytes | None, source: Any) -> Any:
        if source.offset == 1000:
            raise OSError("disk full")
        return real(self, raw, source)

    monkeypatch.setattr(RecordPipeline, "process", fails_later)
    with pytest.raises(OSError, match="disk full"):
        _run(folder, offload=True)
    assert not [p for p in multiprocessing.active_children() if p.name == "streamguard-check"]


def _behaviour_file(folder: Path) -> Path:
    """Generated behaviour events with the generator's faults, a record that brings a
    ``_dq`` of its own (first, so ours is not its last key) and a late, nested
    ``"quality_score":null``."""
    path = folder / "behaviour.jsonl"
    lines = [
        raw.value
        for raw in generate("behavior", 4000, seed=11, faults=FaultMix.uniform(0.1, "behavior"))
    ]
    own = orjson.loads(lines[7])
    if isinstance(own, dict):
        lines[7] = orjson.dumps({"_dq": {"mine": 1}, **own, "extra": {"quality_score": None}})
    path.write_bytes(b"\n".join(line or b"" for line in lines) + b"\n")
    return path


@pytest.mark.parametrize("drift", [True, False], ids=["drift", "no-drift"])
def test_the_child_writes_what_one_process_writes(tmp_path: Path, drift: bool) -> None:
    path = _behaviour_file(tmp_path)
    settings = Settings(model="hashing", quality_window=200)
    outputs = []
    switch = sys.getswitchinterval()
    for offload in (False, True):
        out = tmp_path / f"out-{offload}"
        result = check_file(path, "behavior", out, settings, drift=drift, offload=offload)
        outputs.append((_outputs(out), result.quality, result.quality_findings))
    assert sys.getswitchinterval() == switch  # lowered while the child ran, then restored
    one, split = outputs
    assert split == one
    clean = one[0]["clean"]
    # the cases the child patches differently are there, and the run found something
    assert any("mine" not in r["_dq"] and "extra" in r for r in clean)
    assert {r["_dq"]["status"] for r in clean} == {"valid", "corrected"}
    assert one[1] is not None and one[1].composite is not None
    assert {r["_dq"]["quality_score"] for r in clean} - {1.0}


def test_a_file_that_grows_during_the_run_fails_it(tmp_path: Path) -> None:
    """The child reads the file itself: a line the pipeline did not read is an error,
    not a record scored against the wrong verdict."""
    from streamguard.commands.check_child import ChildJob, run_child
    from streamguard.commands.file_input import StreamClock
    from streamguard.wiring import build_scorers

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(raw.value or b"" for raw in generate("behavior", 3, seed=1)))
    clock = StreamClock()
    quality = build_scorers(Settings(), clock=clock)["behavior"]
    job = ChildJob(path, "file:x", 1 << 20, tmp_path / "clean.jsonl", quality, clock)
    parent, child = multiprocessing.Pipe()
    parent.send(("v", [(), ()]))
    parent.send(("end", 2))
    run_child(child, job)
    status, message = parent.recv()
    assert status == "error" and "more lines than the pipeline read (2)" in message
