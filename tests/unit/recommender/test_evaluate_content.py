"""``eval-recommender --catalogue``: the content path scored with and without content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard import cli
from streamguard.commands import eval_recommender
from streamguard.recommender.content_source import ContentSource


class NeighbourModel:
    """Recommends the content neighbours of the user's last item (nothing without content)."""

    version = "nbr-v1@0"

    def __init__(self) -> None:
        self.content: ContentSource | None = None
        self.last: dict[str, str] = {}

    def learn_one(self, event: Mapping[str, Any]) -> bool:
        self.last[str(event["user_id"])] = str(event["product_id"])
        return True

    def recommend(self, user_id: str, k: int = 10) -> Sequence[tuple[str, float]]:
        last = self.last.get(user_id)
        if self.content is None or last is None:
            return []
        return list(self.content.neighbours(last))[:k]


class PlainModel:
    """Recommends nothing, and has no ``content`` attribute: takes no content."""

    version = "plain-v1@0"

    def learn_one(self, event: Mapping[str, Any]) -> bool:
        return True

    def recommend(self, user_id: str, k: int = 10) -> Sequence[tuple[str, float]]:
        return []


MOVIES = [
    ("m1", "Toy Story (1995)", ["Animation", "Children", "Comedy"]),
    ("m2", "Toy Story 2 (1999)", ["Animation", "Children", "Comedy"]),
    ("m3", "Heat (1995)", ["Action", "Crime", "Thriller"]),
    ("m4", "Casino (1995)", ["Crime", "Drama"]),
]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setattr(
        eval_recommender, "MODELS", {"nbr-v1": NeighbourModel, "plain-v1": PlainModel}
    )
    catalogue = tmp_path / "movies.jsonl"
    catalogue.write_bytes(
        b"\n".join(
            orjson.dumps({"product_id": p, "op": "upsert", "title": t, "attributes": {"genres": g}})
            for p, t, g in MOVIES
        )
        + b"\nnot json\n"
    )
    events = tmp_path / "events.jsonl"
    pairs = [("u1", "m1"), ("u1", "m2"), ("u2", "m3"), ("u2", "m4"), ("u3", "m2"), ("u3", "m1")]
    events.write_bytes(
        b"\n".join(orjson.dumps({"user_id": u, "product_id": p}) for u, p in pairs) + b"\n"
    )
    return events, catalogue


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["eval-recommender", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_content_model_is_scored_with_and_without_content(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, catalogue = files
    argv = [str(events), "--model", "nbr-v1", "--catalogue", str(catalogue)]
    code, out, _ = _run([*argv, "--hashing-embedder", "--k", "1"], capsys)
    assert code == 0
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["content"]["used"] and summary["content"]["products"] == 4
    assert summary["content"]["embedder"] == "hashing"
    assert summary["hr_at_k"] == 1.0  # every next item is the last one's nearest by text
    assert summary["baselines"]["nbr-v1 no content"]["hr_at_k"] == 0.0
    assert set(summary["baselines"]) == {"popularity", "nbr-v1 no content", "plain-v1"}
    cold = summary["slices"]["cold_item"]  # every target is a new item here
    assert cold["model"]["hr_at_k"] == 1.0 and cold["popularity"]["hr_at_k"] < 1.0
    assert "content of 4 products (hashing)" in out and "nbr-v1 no content" in out


def test_a_model_without_content_says_so(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, catalogue = files
    argv = [str(events), "--model", "plain-v1", "--catalogue", str(catalogue)]
    code, out, err = _run([*argv, "--hashing-embedder", "--no-compare"], capsys)
    assert code == 0 and "takes no content" in err
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["content"]["used"] is False
    assert set(summary["baselines"]) == {"popularity"}


def test_the_configured_embedder_is_used_without_the_flag(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")
    events, catalogue = files
    code, out, _ = _run([str(events), "--model", "nbr-v1", "--catalogue", str(catalogue)], capsys)
    assert code == 0 and orjson.loads(out.splitlines()[-1])["content"]["used"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--catalogue", "missing.jsonl"], "no catalogue"), (["--content-k", "0"], "--content-k")],
)
def test_bad_content_options_are_refused(
    extra: list[str], message: str, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = files
    code, out, err = _run([str(events), *extra], capsys)
    assert code == 2 and message in err and out == ""


def test_the_sequence_model_takes_the_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = tmp_path / "movies.jsonl"
    catalogue.write_bytes(
        b"\n".join(
            orjson.dumps({"product_id": p, "op": "upsert", "title": t, "attributes": {"genres": g}})
            for p, t, g in MOVIES
        )
    )
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"\n".join(
            orjson.dumps({"user_id": u, "product_id": p, "event_type": "view"})
            for u, p in [("u1", "m1"), ("u1", "m2"), ("u2", "m1"), ("u2", "m3")]
        )
    )
    argv = [str(events), "--model", "item-seq-v1", "--catalogue", str(catalogue)]
    code, out, err = _run([*argv, "--hashing-embedder"], capsys)
    assert code == 0 and "takes no content" not in err
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["content"]["used"] and summary["model_version"].startswith("item-seq-v1")
    assert set(summary["baselines"]) == {"popularity", "item-seq-v1 no content", "item-cooc-v1"}
