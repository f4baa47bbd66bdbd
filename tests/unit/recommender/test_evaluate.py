"""Prequential evaluation: metrics on hand-checkable streams, the CLI, MovieLens."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.recommender.evaluate import evaluate, read_events

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
MOVIELENS_ZIP = DATA_DIR / "movielens" / "ml-latest-small.zip"


class ScriptedModel:
    """Answers from a script; records what it was asked and taught."""

    version = "scripted"

    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.taught: list[str] = []

    def learn_one(self, event: Mapping[str, Any]) -> bool:
        self.taught.append(str(event["user_id"]))
        return "product_id" in event

    def recommend(self, user_id: str, k: int = 10) -> Sequence[tuple[str, float]]:
        self.asked.append(user_id)
        return [(item, 1.0) for item in self.answers.pop(0)[:k]]


def lines(*records: Any) -> list[bytes]:
    return [r if isinstance(r, bytes) else orjson.dumps(r) for r in records]


STREAM = lines(
    {"user_id": "a", "product_id": "p1"},  # a's first event: not scored
    b"not json",  # skipped
    {"user_id": "a", "event_type": "search", "query": "q"},  # no product: not scored
    {"user_id": "b", "event_type": "search", "query": "q"},  # b's first event
    {"user_id": "b", "product_id": "p2"},  # scored: model [p2, p9, p8] -> rank 1
    {"user_id": "a", "product_id": "p3"},  # scored: model [p9, p3] -> rank 2
    {"user_id": "a", "product_id": "p2"},  # scored: model [p1] -> miss
    [1, 2],  # skipped: not an object
)


def test_hit_rate_and_ndcg_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(STREAM) + b"\n\n")
    model = ScriptedModel([["p2", "p9", "p8"], ["p9", "p3"], ["p1"]])
    with path.open("rb") as fh:
        result = evaluate(read_events(fh), k=3, model=model)
    assert model.asked == ["b", "a", "a"]  # asked before learning, only when scored
    assert model.taught == ["a", "a", "b", "b", "a", "a"]
    assert (result.events, result.skipped, result.learned, result.evaluated) == (8, 2, 4, 3)
    assert result.hr_at_k == pytest.approx(2 / 3)
    assert result.ndcg_at_k == pytest.approx((1 + 1 / math.log2(3)) / 3)
    # Baseline (popularity so far, minus seen): b gets [p1] (miss), a gets [p2] (miss,
    # p3 is asked), then a, having seen {p1, p3}, gets [p2]: a hit at rank 1.
    assert result.baseline_hr_at_k == pytest.approx(1 / 3)
    assert result.baseline_ndcg_at_k == pytest.approx(1 / 3)
    summary = result.as_dict()
    assert summary["baseline_popularity"] == {
        "hr_at_k": round(1 / 3, 6),
        "ndcg_at_k": round(1 / 3, 6),
    }
    assert summary["events_per_s"] > 0


def test_real_model_on_a_tiny_stream() -> None:
    events = [
        {"user_id": "a", "product_id": "x", "event_type": "view"},
        {"user_id": "a", "product_id": "y", "event_type": "view"},  # nothing to go on
        {"user_id": "b", "product_id": "x", "event_type": "view"},
        {"user_id": "b", "product_id": "y", "event_type": "view"},  # a did x -> y
    ]
    result = evaluate(events, k=2)
    assert (result.evaluated, result.hr_at_k, result.ndcg_at_k) == (2, 0.5, 0.5)


def test_slices_and_compared_models_are_scored_on_the_same_events() -> None:
    # Slices of the STREAM: every scored product had < 5 earlier interactions and every
    # scored user < 5 earlier events, so both slices hold all three scored events.
    with_products = [orjson.loads(line) for line in STREAM if line.startswith(b"{")]
    model = ScriptedModel([["p2", "p9", "p8"], ["p9", "p3"], ["p1"]])
    twin = ScriptedModel([["p2", "p9", "p8"], ["p9", "p3"], ["p1"]])
    result = evaluate(with_products, k=3, model=model, compare={"twin": twin})
    assert twin.asked == model.asked == ["b", "a", "a"]
    assert result.slice_sizes == {"cold_item": 3, "short_history": 3}
    assert set(result.scores) == {"model", "popularity", "twin"}
    assert result.scores["twin"]["all"] == result.scores["model"]["all"]
    assert result.scores["model"]["cold_item"].hr_at_k == pytest.approx(2 / 3)
    summary = result.as_dict()
    assert set(summary["baselines"]) == {"popularity", "twin"}
    assert summary["slices"]["cold_item"]["evaluated"] == 3
    assert summary["slices"]["short_history"]["twin"]["hr_at_k"] == round(2 / 3, 6)
    with pytest.raises(ValueError, match="name the evaluated model"):
        evaluate([], compare={"popularity": twin})


def test_an_item_becomes_warm_after_five_interactions() -> None:
    events = [{"user_id": f"u{n}", "product_id": "x"} for n in range(7)]
    events += [{"user_id": f"u{n}", "product_id": "x"} for n in range(2)]
    result = evaluate(events, k=1)
    # Only the last two are scored (their users came back), both with x seen 7+ times.
    assert result.evaluated == 2 and result.slice_sizes["cold_item"] == 0
    assert result.slice_sizes["short_history"] == 2


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be"):
        evaluate([], k=0)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_command_prints_a_table_then_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(STREAM) + b"\n")
    code, out, _ = run_cli(["eval-recommender", str(path), "--k", "3"], capsys)
    assert code == 0
    *table, last = out.rstrip("\n").split("\n")
    summary = orjson.loads(last)
    assert {"evaluated", "k", "hr_at_k", "ndcg_at_k", "events_per_s"} <= set(summary)
    assert summary["k"] == 3 and summary["evaluated"] == 3 and summary["skipped"] == 2
    assert set(summary["baseline_popularity"]) == {"hr_at_k", "ndcg_at_k"}
    assert summary["model_version"].startswith("item-cooc-v1@")
    assert set(summary["baselines"]) == {"popularity", "item-seq-v1"}
    assert set(summary["slices"]) == {"cold_item", "short_history"}
    text = "\n".join(table)
    assert "HR@3" in text and "popularity baseline" in text and "evaluated 3" in text
    assert "item-seq-v1" in text and "cold_item" in text

    code, out, _ = run_cli(["eval-recommender", str(path), "--model", "item-seq-v1"], capsys)
    summary = orjson.loads(out.splitlines()[-1])
    assert code == 0 and summary["model_version"].startswith("item-seq-v1@")
    assert set(summary["baselines"]) == {"popularity", "item-cooc-v1"}

    code, out, _ = run_cli(["eval-recommender", str(path), "--no-compare"], capsys)
    assert code == 0 and set(orjson.loads(out.splitlines()[-1])["baselines"]) == {"popularity"}

    code, out, _ = run_cli(["eval-recommender", str(path), "--limit", "1"], capsys)
    assert code == 0 and orjson.loads(out.splitlines()[-1])["events"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["missing.jsonl"], "cannot read"), (["x.jsonl", "--k", "0"], "--k must be")],
)
def test_command_refuses_bad_input(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args[0] = str(tmp_path / args[0])
    code, out, err = run_cli(["eval-recommender", *args], capsys)
    assert code == 2 and message in err and out == ""


@pytest.mark.data
@pytest.mark.skipif(
    not MOVIELENS_ZIP.is_file(),
    reason=f"MovieLens data not found at {MOVIELENS_ZIP} (../shared/data next to the repo)",
)
def test_movielens_hit_rate_at_least_twice_popularity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "ratings.jsonl"
    argv = ["replay", "--dataset", "movielens-ratings", "--data-dir", str(DATA_DIR)]
    code, _, _ = run_cli([*argv, "--out", str(events)], capsys)
    assert code == 0
    code, out, _ = run_cli(["eval-recommender", str(events), "--k", "10"], capsys)
    assert code == 0
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["events"] == summary["learned"] == 100_836
    assert summary["evaluated"] == 100_836 - 610  # every rating but each user's first
    baseline = summary["baseline_popularity"]
    assert baseline["hr_at_k"] > 0.02  # the baseline is a real one, not a straw man
    assert summary["hr_at_k"] >= 2 * baseline["hr_at_k"]
    assert summary["ndcg_at_k"] >= 2 * baseline["ndcg_at_k"]
    # The sequence-aware model, scored in the same run, beats today's (issue 23) overall
    # and stays well above popularity on cold items.
    sequence = summary["baselines"]["item-seq-v1"]
    assert sequence["hr_at_k"] >= 1.08 * summary["hr_at_k"]
    assert sequence["ndcg_at_k"] >= 1.08 * summary["ndcg_at_k"]
    cold = summary["slices"]["cold_item"]
    assert cold["item-seq-v1"]["hr_at_k"] >= 2 * cold["popularity"]["hr_at_k"]
