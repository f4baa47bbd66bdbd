"""Benchmark: product meaning (content) in the sequence model, on ml-latest-small.

Run: ``.venv/bin/python bench/bench_content.py [--data-dir DIR] [--blend 0.01 0.03 ...]
[--hashing]``. Replays MovieLens ratings and movies (``../shared/data``), embeds the
9,742 movie texts (title and genres) up front with the configured embedder (ONNX int8 on
the CPU by default; ``--hashing``: the model-free one) into one
:class:`~streamguard.recommender.content.ContentIndex`, and runs the prequential
evaluation of ``streamguard eval-recommender`` in one pass for: popularity, ``item-cooc``
(today's model), ``item-seq`` without content (the baseline) and ``item-seq`` with the
index at each ``content_blend`` (default config first; re-ranking by meaning,
``content_rerank``, on), and once with the additive path alone (re-ranking off).
Reports HR@10 / NDCG@10 overall and on the cold-item slice (the target had fewer than 5
earlier interactions), against the issue-23 target: cold-slice HR@10 >= 2x popularity's.
Prints a table and writes ``bench/results/content.json``. Without the data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import Figure, print_table, write_result

from streamguard.config import Settings
from streamguard.embed.base import Embedder
from streamguard.embed.hashing import HashingEmbedder
from streamguard.recommender.content import ContentIndex, index_catalogue
from streamguard.recommender.evaluate import RankingModel, evaluate
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.params import SequenceConfig
from streamguard.recommender.sequence import SequenceRecommender
from streamguard.sources.replay import (
    DataNotFoundError,
    movielens_movies,
    movielens_ratings,
    resolve_data_dir,
)
from streamguard.wiring import build_embedder

COLD_TARGET = 2.0  # cold-slice HR@10 over popularity's


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 (also without the data)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--blend", type=float, nargs="*", default=[0.01, 0.03])
    parser.add_argument("--hashing", action="store_true", help="the model-free embedder")
    args = parser.parse_args(argv)
    try:
        folder = resolve_data_dir(args.data_dir)
        movies = list(movielens_movies(folder))
        events = list(movielens_ratings(folder))
    except DataNotFoundError as exc:
        print(f"bench_content: skipped ({exc})")
        return 0
    embedder: Embedder = HashingEmbedder() if args.hashing else build_embedder(Settings())
    index = ContentIndex(embedder, k=20, max_items=1_000_000)
    started = time.perf_counter()
    index_catalogue(index, movies)
    index_seconds = time.perf_counter() - started
    default = SequenceConfig()
    compare: dict[str, RankingModel] = {"item-cooc": CooccurrenceRecommender()}
    compare[f"item-seq + content (blend {default.content_blend:g}, default)"] = SequenceRecommender(
        default, content=index
    )
    # The additive path alone, as before re-ranking (blend 0.03 was its best).
    compare["item-seq + content, no re-ranking (blend 0.03)"] = SequenceRecommender(
        replace(default, content_blend=0.03, content_rerank=0.0), content=index
    )
    for blend in args.blend:
        config = replace(default, content_blend=blend)
        compare[f"item-seq + content (blend {blend:g})"] = SequenceRecommender(
            config, content=index
        )
    result = evaluate(events, k=10, model=SequenceRecommender(), compare=compare)
    scores = result.scores
    popular_cold = scores["popularity"]["cold_item"].hr_at_k
    rows = []
    for name, by_slice in scores.items():
        label = "item-seq, no content" if name == "model" else name
        overall, cold = by_slice["all"], by_slice["cold_item"]
        ratio = cold.hr_at_k / popular_cold if popular_cold else 0.0
        rows.append(
            (label, overall.hr_at_k, overall.ndcg_at_k, cold.hr_at_k, cold.ndcg_at_k, ratio)
        )
    print(
        f"ml-latest-small: {result.evaluated:,} events evaluated, "
        f"{result.slice_sizes['cold_item']:,} on cold items; {len(index):,} movies embedded "
        f"by {'hashing' if args.hashing else Settings().model} in {index_seconds:.1f} s"
    )
    print_table(
        [(r[0], *(round(v, 4) for v in r[1:5]), round(r[5], 1)) for r in rows],
        ("model", "HR@10", "NDCG@10", "cold HR@10", "cold NDCG@10", "cold / popularity"),
    )
    baseline = scores["model"]["cold_item"].hr_at_k
    figures = [
        Figure(
            "content",
            f"cold-slice HR@10, {label}",
            cold_hr,
            "hit rate",
            baseline=baseline,
            target=f">= {COLD_TARGET:g}x popularity's ({popular_cold:.4f})",
            met=cold_hr >= COLD_TARGET * popular_cold,
        )
        for label, _, _, cold_hr, _, _ in rows
        if label.startswith("item-seq + content")
    ]
    details = {
        "index_seconds": round(index_seconds, 2),
        "products": len(index),
        "result": result.as_dict(),
    }
    path = write_result("content", figures, details)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
