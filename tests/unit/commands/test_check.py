"""``streamguard check FILE`` through the CLI: output files, report, summary, exit codes."""

from __future__ import annotations

import base64
import csv
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.events.records import REASON_CODES

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
OLIST_DIR = DATA_DIR / "olist"


@pytest.fixture(autouse=True)
def _no_streamguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's STREAMGUARD_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)


def behavior(event_id: str, **changes: Any) -> bytes:
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "view",
        "user_id": "u-1",
        "product_id": "p-1",
        "ts": "2026-11-01T10:00:00Z",
    }
    event.update(changes)
    return orjson.dumps({k: v for k, v in event.items() if v is not None})


def purchase(event_id: str, **changes: Any) -> bytes:
    return behavior(event_id, event_type="purchase", currency="USD", quantity=1, **changes)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def check(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# Line n of the file is offset n. Line 3 ends in CRLF, the file ends in a newline.
LINES: list[tuple[bytes, str, str | None]] = [
    (behavior("e0"), "valid", None),
    (purchase("e1", price="9.50"), "corrected", "numeric_string"),
    (b"this is not json", "quarantine", "decode_error"),
    (behavior("e3", platform="iOS"), "corrected", "enum_normalize"),
    (b"oops", "quarantine", "decode_error"),
    (purchase("e5", price=-1), "quarantine", "out_of_range"),
    (behavior("e0", ts="2026-11-01T10:00:01Z"), "quarantine", "duplicate"),
    (b"[1, 2]", "quarantine", "not_an_object"),
    (behavior("e8", ts=1_793_527_200), "corrected", "ts_epoch_seconds"),
]  # fmt: skip


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    body = b""
    for n, (line, _, _) in enumerate(LINES):
        body += line + (b"\r\n" if n in (3, 4) else b"\n")
    path.write_bytes(body)
    return path


def test_check_writes_clean_quarantine_and_report(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = check([str(events_file), "--out", str(out)], capsys)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "clean.jsonl",
        "findings.jsonl",
        "quarantine.jsonl",
        "report.json",
    ]

    clean = read_jsonl(out / "clean.jsonl")
    quarantine = read_jsonl(out / "quarantine.jsonl")
    decided: dict[int, tuple[str, list[str]]] = {}
    for record in clean:
        source = record["_dq"]["source"]
        assert source == {"topic": "file:events.jsonl", "partition": 0, "offset": source["offset"]}
        rules = [c["rule"] for c in record["_dq"]["corrections"]]
        decided[source["offset"]] = (record["_dq"]["status"], rules)
        assert record["ts"].endswith("Z")
    for record in quarantine:
        source = record["source"]
        assert source == {"topic": "file:events.jsonl", "partition": 0, "offset": source["offset"]}
        assert source["offset"] not in decided  # exactly one destination per line
        decided[source["offset"]] = ("quarantine", [r["code"] for r in record["reasons"]])
        assert all(r["code"] in REASON_CODES for r in record["reasons"])
        assert record["encoding"] == "utf-8"
        assert record["raw"] == LINES[source["offset"]][0].decode()  # no CR left over

    # Every line, and nothing else (the final newline opens no empty record).
    assert sorted(decided) == list(range(len(LINES)))
    for n, (_, status, code_or_rule) in enumerate(LINES):
        assert decided[n][0] == status, n
        if code_or_rule is not None:
            assert code_or_rule in decided[n][1], n
        else:
            assert decided[n][1] == []

    report = orjson.loads((out / "report.json").read_bytes())
    statuses = Counter(status for _, status, _ in LINES)
    assert report["stream"] == "behavior"
    assert report["total"] == len(LINES)
    assert report["outcomes"] == {s: statuses[s] for s in ("valid", "corrected", "quarantine")}
    assert report["reasons"] == {
        "decode_error": 2,
        "out_of_range": 1,
        "duplicate": 1,
        "not_an_object": 1,
    }
    assert report["reasons_by_field"] == {
        "decode_error:-": 2,
        "out_of_range:price": 1,
        "duplicate:event_id": 1,
        "not_an_object:-": 1,
    }
    assert report["corrections"] == {
        "numeric_string": 1,
        "enum_normalize": 1,
        "ts_epoch_seconds": 1,
    }
    assert report["corrections_by_field"] == {
        "numeric_string:price": 1,
        "enum_normalize:platform": 1,
        "ts_epoch_seconds:ts": 1,
    }
    assert report["gaps"]["records_checked"] == len(clean)
    assert report["files"] == {
        "clean": str(out / "clean.jsonl"),
        "quarantine": str(out / "quarantine.jsonl"),
    }

    # The human summary, on stdout.
    assert str(events_file) in stdout
    assert "behavior stream" in stdout
    for status in ("valid", "corrected", "quarantine"):
        line = next(x for x in stdout.splitlines() if x.strip().startswith(status))
        assert str(statuses[status]) in line.split()
    assert "decode_error:-" in stdout
    assert "numeric_string:price" in stdout


def test_a_blank_line_inside_the_file_is_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gap.jsonl"
    path.write_bytes(behavior("a") + b"\n\n" + behavior("b"))  # no final newline
    code, _, _ = check([str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    report = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
    assert report["outcomes"] == {"valid": 2, "corrected": 0, "quarantine": 1}
    (blank,) = read_jsonl(tmp_path / "o" / "quarantine.jsonl")
    assert blank["source"]["offset"] == 1
    assert blank["raw"] == ""
    offsets = [r["_dq"]["source"]["offset"] for r in read_jsonl(tmp_path / "o" / "clean.jsonl")]
    assert offsets == [0, 2]


def test_invalid_utf8_line_is_base64_in_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bin.jsonl"
    raw = behavior("a").replace(b'"a"', b'"\xff\xfe"')
    path.write_bytes(raw + b"\r\n")
    assert check([str(path), "--out", str(tmp_path / "o")], capsys)[0] == 0
    (record,) = read_jsonl(tmp_path / "o" / "quarantine.jsonl")
    assert record["encoding"] == "base64"
    assert base64.b64decode(record["raw"]) == raw


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, stdout, _ = check([str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    report = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
    assert report["total"] == 0
    assert (tmp_path / "o" / "clean.jsonl").read_bytes() == b""
    assert "records" in stdout


def test_everything_quarantined_still_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"junk\n" * 5)
    code, _, _ = check([str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    report = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
    assert report["outcomes"]["quarantine"] == 5


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    code, stdout, stderr = check([str(missing), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert str(missing) in stderr
    assert stdout == ""
    assert not (tmp_path / "o").exists()


def test_invalid_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(behavior("a") + b"\n")
    monkeypatch.setenv("STREAMGUARD_MAX_RECORD_BYTES", "not-a-number")
    code, _, stderr = check([str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "max_record_bytes" in stderr


def test_max_record_bytes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(behavior("a", pad="x" * 3000) + b"\n" + behavior("b") + b"\n")
    monkeypatch.setenv("STREAMGUARD_MAX_RECORD_BYTES", "2048")
    assert check([str(path), "--out", str(tmp_path / "o")], capsys)[0] == 0
    report = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
    assert report["reasons"] == {"too_large": 1}
    assert report["outcomes"]["valid"] == 1


def test_product_stream_and_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    products = tmp_path / "products.jsonl"
    product = {"event_id": "pe1", "product_id": "p-1", "op": "upsert", "ts": 1_800_000_000_000}
    products.write_bytes(
        orjson.dumps({**product, "price": "4.25", "currency": "EUR"})
        + b"\n"
        + orjson.dumps({**product, "event_id": "pe2", "product_id": "p-2", "stock": -1})
        + b"\n"
    )
    code, stdout, _ = check(
        [str(products), "--stream", "product", "--out", str(tmp_path / "p")], capsys
    )
    assert code == 0
    assert "product stream" in stdout
    report = orjson.loads((tmp_path / "p" / "report.json").read_bytes())
    assert report["stream"] == "product"
    assert report["outcomes"] == {"valid": 0, "corrected": 1, "quarantine": 1}
    assert report["reasons_by_field"] == {"out_of_range:stock": 1}

    purchases = tmp_path / "purchases.jsonl"
    purchases.write_bytes(
        behavior("b1", event_type="purchase", quantity=1)  # p-1: price from the catalogue
        + b"\n"
        + behavior("b2", event_type="purchase", quantity=1, product_id="p-2")  # not clean
        + b"\n"
    )
    args = [str(purchases), "--catalogue", str(products), "--out", str(tmp_path / "b")]
    assert check(args, capsys)[0] == 0
    (clean,) = read_jsonl(tmp_path / "b" / "clean.jsonl")
    assert (clean["price"], clean["currency"]) == (4.25, "EUR")
    assert {c["rule"] for c in clean["_dq"]["corrections"]} == {"price_from_catalogue"}
    report = orjson.loads((tmp_path / "b" / "report.json").read_bytes())
    assert report["reasons_by_field"] == {
        "missing_field:price": 1,
        "missing_field:currency": 1,
    }


def test_gaps_in_product_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"product_id": "p", "op": "upsert", "ts": 1_800_000_000_000}
    rows = [
        {**base, "event_id": "1", "category": "a/b", "attributes": {"weight_g": 0, "w": 1}},
        {**base, "event_id": "2", "attributes": {"weight_g": 5}},
        {**base, "event_id": "3", "category": "a", "attributes": {}},
        {"event_id": "4", "product_id": "p", "op": "delete", "ts": 1_800_000_000_000},
    ]
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    assert check([str(path), "--stream", "product", "--out", str(tmp_path / "o")], capsys)[0] == 0
    gaps = orjson.loads((tmp_path / "o" / "report.json").read_bytes())["gaps"]
    assert gaps["records_checked"] == 3  # a delete carries only the id
    assert gaps["missing"]["category"] == 1
    assert gaps["missing"]["attributes.weight_g"] == 1
    assert gaps["missing"]["attributes.w"] == 2
    assert gaps["zero"] == {"attributes.weight_g": 1}


# --- real data: Olist products ---------------------------------------------------------


def _olist_facts() -> dict[str, int]:
    """Gap counts read straight from the CSV, independently of StreamGuard."""
    facts: Counter[str] = Counter()
    with (OLIST_DIR / "olist_products_dataset.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            facts["rows"] += 1
            if not row["product_category_name"].strip():
                facts["no_category"] += 1
            for column in ("weight_g", "length_cm", "height_cm", "width_cm"):
                value = row[f"product_{column}"].strip()
                if not value:
                    facts[f"no_{column}"] += 1
                elif float(value) == 0:
                    facts[f"zero_{column}"] += 1
    return dict(facts)


@pytest.mark.data
@pytest.mark.skipif(
    not (OLIST_DIR / "olist_products_dataset.csv").is_file(),
    reason=f"Olist data not found at {OLIST_DIR} (../shared/data next to the repository)",
)
def test_olist_products_replayed_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "olist.jsonl"
    code = cli.main(
        ["replay", "--dataset", "olist-products", "--data-dir", str(DATA_DIR), "--out", str(events)]
    )
    capsys.readouterr()
    assert code == 0
    facts = _olist_facts()
    # The dataset's documented gaps (shared/data/README.md).
    assert facts["no_category"] == 610
    assert facts["zero_weight_g"] == 4
    assert all(facts[f"no_{c}"] == 2 for c in ("weight_g", "length_cm", "height_cm", "width_cm"))

    code, stdout, _ = check(
        [str(events), "--stream", "product", "--out", str(tmp_path / "o")], capsys
    )
    assert code == 0
    report = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
    assert report["total"] == facts["rows"] == 32_951
    assert report["outcomes"] == {"valid": facts["rows"], "corrected": 0, "quarantine": 0}
    gaps = report["gaps"]
    assert gaps["records_checked"] == facts["rows"]
    assert gaps["missing"]["category"] == 610
    for column in ("weight_g", "length_cm", "height_cm", "width_cm"):
        assert gaps["missing"][f"attributes.{column}"] == facts[f"no_{column}"] == 2
    assert gaps["zero"].get("attributes.weight_g") == 4
    assert "missing category" in " ".join(stdout.split())
    assert "zero attributes.weight_g" in " ".join(stdout.split())

    # Categories without an English name keep their Portuguese name.
    with (OLIST_DIR / "product_category_name_translation.csv").open(
        encoding="utf-8-sig", newline=""
    ) as fh:
        translation = {
            row["product_category_name"]: row["product_category_name_english"]
            for row in csv.DictReader(fh)
        }
    with (OLIST_DIR / "olist_products_dataset.csv").open(encoding="utf-8-sig", newline="") as fh:
        raw = {row["product_category_name"] for row in csv.DictReader(fh)} - {""}
    untranslated = raw - set(translation)
    assert len(untranslated) == 2  # as the dataset's README says
    categories = {r.get("category") for r in read_jsonl(tmp_path / "o" / "clean.jsonl")}
    assert categories == {translation.get(c, c) for c in raw} | {None}


def test_check_scores_quality_against_the_files_own_time(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The events are from 2026-11-01: judged against today they would all be "late".
    out = tmp_path / "out"
    code, stdout, _ = check([str(events_file), "--out", str(out), "--no-drift"], capsys)
    assert code == 0
    quality = orjson.loads((out / "report.json").read_bytes())["quality"]
    dims = quality["dimensions"]
    assert dims["timeliness"] == 1.0
    # 4 of 9 records are quarantined, one of them as a duplicate.
    assert dims["validity"] < 1.0 and dims["uniqueness"] < 1.0
    assert 0.0 < quality["composite"] < 1.0
    for record in read_jsonl(out / "clean.jsonl"):
        assert 0.0 < record["_dq"]["quality_score"] <= 1.0
    assert f"quality {quality['composite']:.3f}" in stdout


def test_generate_creates_the_output_folder(tmp_path: Path) -> None:
    # README's walkthrough writes into a folder that does not exist yet.
    out = tmp_path / "new" / "folder" / "events.jsonl"
    assert (
        cli.main(
            ["generate", "--stream", "behavior", "--count", "5", "--seed", "1", "--out", str(out)]
        )
        == 0
    )
    assert len(out.read_bytes().splitlines()) == 5


# --- --fail-on: gating a CI job ------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "code", "failed"),
    [
        ([], 0, []),
        (["quarantine>60%"], 0, []),  # 5 of 9 quarantined: 56%
        (["quarantine>50%"], 1, ["quarantine>50%"]),
        (["quarantine>=5", "quarantine>5"], 1, ["quarantine>=5"]),
        (["reason=duplicate", "reason=too_large"], 1, ["reason=duplicate"]),
        (["corrected<10%", "quarantine>60%"], 0, []),  # 3 of 9 corrected: 33%
    ],
)
def test_fail_on_exits_1_naming_each_condition_that_holds(
    events_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    conditions: list[str],
    code: int,
    failed: list[str],
) -> None:
    args = [str(events_file), "--out", str(tmp_path / "o"), "--no-drift"]
    for condition in conditions:
        args += ["--fail-on", condition]
    got, stdout, _ = check(args, capsys)
    assert got == code
    assert [line.split(":")[0] for line in stdout.splitlines() if line.startswith("FAIL")] == [
        f"FAIL --fail-on {c}" for c in failed
    ]


def test_fail_on_a_finding_gates_on_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")
    path = tmp_path / "prices.jsonl"
    normal = [purchase(f"n{i}", price=10.0 + i % 5, user_id=f"u{i}") for i in range(400)]
    path.write_bytes(b"\n".join([*normal, purchase("x", price=1e7, user_id="ux")]) + b"\n")
    code, stdout, _ = check(
        [str(path), "--out", str(tmp_path / "o"), "--fail-on", "finding"], capsys
    )
    assert code == 1 and "FAIL --fail-on finding: " in stdout and "anomaly" in stdout
    code, _, _ = check(
        [str(path), "--out", str(tmp_path / "o"), "--fail-on", "finding=semantic_drift"], capsys
    )
    assert code == 0


def test_fail_on_a_finding_without_drift_detection_cannot_run(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(events_file), "--out", str(tmp_path / "o"), "--no-drift", "--fail-on", "finding"]
    code, _, stderr = check(args, capsys)
    assert code == 2 and "needs drift detection" in stderr


def test_an_unreadable_fail_on_exits_2_saying_what_it_expects(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        check([str(events_file), "--fail-on", "quarantine>>1"], capsys)
    assert exit_info.value.code == 2
    assert "expected e.g. quarantine>1%" in capsys.readouterr().err


def test_no_drift_still_gives_every_clean_record_an_anomaly_score(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN.md: ``_dq.anomaly_score`` and ``quality_score`` are numbers in 0..1."""
    code, _, _ = check([str(events_file), "--out", str(tmp_path / "o"), "--no-drift"], capsys)
    assert code == 0
    clean = read_jsonl(tmp_path / "o" / "clean.jsonl")
    assert clean and not (tmp_path / "o" / "findings.jsonl").exists()
    for record in clean:
        assert 0.0 <= record["_dq"]["anomaly_score"] <= 1.0, record["_dq"]
        assert 0.0 <= record["_dq"]["quality_score"] <= 1.0, record["_dq"]
