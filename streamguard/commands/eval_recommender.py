"""``streamguard eval-recommender EVENTS.jsonl --k 10``: prequential evaluation.

Prints a human table, then, as the last line of stdout, one JSON object. ``--model``
(default ``item-cooc``, the model the recommender process runs; ``item-seq`` is the
opt-in sequence-aware one) is scored next to the popularity baseline and, unless
``--no-compare``, the other model, in the same run, overall and on the cold-item and
short-history slices. Exit code 0
when it ran, 2 when it could not (missing file, bad ``--k``). The evaluation itself is
:func:`streamguard.recommender.evaluate.evaluate`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamguard.recommender.evaluate import RankingModel, evaluate, format_table, read_events
from streamguard.recommender.model import ALGORITHM, CooccurrenceRecommender
from streamguard.recommender.sequence import SEQUENCE_ALGORITHM, SequenceRecommender

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["MODELS", "add_arguments", "run"]

#: ``--model`` choices: the co-occurrence model (what the process runs) and the
#: sequence-aware one (opt-in), by the name their versions start with.
MODELS: dict[str, Callable[[], RankingModel]] = {
    ALGORITHM: CooccurrenceRecommender,
    SEQUENCE_ALGORITHM: SequenceRecommender,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard eval-recommender``."""
    parser.add_argument("events", type=Path, metavar="EVENTS.jsonl", help="behaviour events")
    parser.add_argument("--k", type=int, default=10, help="list length (default 10)")
    parser.add_argument("--limit", type=int, metavar="N", help="read at most N lines")
    parser.add_argument(
        "--model",
        choices=sorted(MODELS),
        default=ALGORITHM,
        help=f"model to evaluate (default {ALGORITHM}, the one the recommender runs)",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the other model's scores: one model less to run",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate, print the table and the JSON line. 0 when it ran, 2 when it could not."""
    del settings  # the model's knobs are its own (RecommenderConfig defaults)
    if args.k < 1:
        print("streamguard eval-recommender: --k must be >= 1", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 0:
        print("streamguard eval-recommender: --limit must be >= 0", file=sys.stderr)
        return 2
    try:
        fh = args.events.open("rb")
    except OSError as exc:
        print(f"streamguard eval-recommender: cannot read {args.events}: {exc}", file=sys.stderr)
        return 2
    with fh:
        events: Iterable[dict[str, Any] | None] = read_events(fh)
        if args.limit is not None:
            events = (event for _, event in zip(range(args.limit), events, strict=False))
        compare: dict[str, RankingModel] = {}
        if not args.no_compare:
            compare = {name: build() for name, build in MODELS.items() if name != args.model}
        result = evaluate(events, k=args.k, model=MODELS[args.model](), compare=compare)
    print(format_table(result, args.events.name))
    print(orjson.dumps(result.as_dict()).decode())
    return 0
