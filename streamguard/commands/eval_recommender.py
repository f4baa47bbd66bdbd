"""``streamguard eval-recommender EVENTS.jsonl --k 10``: prequential evaluation.

Prints a human table, then, as the last line of stdout, one JSON object. ``--model``
(default ``item-cooc``, the model the recommender process runs; ``item-seq`` is the
opt-in sequence-aware one) is scored next to the popularity baseline and, unless
``--no-compare``, the other model, in the same run, overall and on the cold-item and
short-history slices. Exit code 0
when it ran, 2 when it could not (missing file, bad ``--k``). The evaluation itself is
:func:`streamguard.recommender.evaluate.evaluate`.

``--catalogue PRODUCTS.jsonl`` (product records, e.g. ``streamguard replay --dataset
movielens-movies --out movies.jsonl``) gives products a text: it is embedded up front, in
batches, by the configured embedder (``STREAMGUARD_MODEL``, ``STREAMGUARD_EMBEDDER_BACKEND``:
ONNX on the CPU by default; ``--hashing-embedder`` for the model-free one) into a
:class:`~streamguard.recommender.content.ContentIndex`. A model that takes content is
then scored with it, and again without it (``<model> no content``) in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamguard.embed.base import Embedder
from streamguard.embed.hashing import HashingEmbedder
from streamguard.recommender.content import ContentIndex, attach_content, index_catalogue
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
        help=(
            f"model to evaluate (default {ALGORITHM}; a new recommender runs item-seq-v1,"
            " one restored from a snapshot keeps the snapshot's)"
        ),
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the other model's scores: one model less to run",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        metavar="PRODUCTS.jsonl",
        help="product records whose text (title, description, category or genres) feeds "
        "the content path of a model that has one (scored with and without it)",
    )
    parser.add_argument(
        "--hashing-embedder",
        action="store_true",
        help="embed the catalogue with the model-free hashing embedder (fast; for tests)",
    )
    parser.add_argument(
        "--content-k", type=int, default=20, help="content neighbours per product (default 20)"
    )


def _embedder(args: argparse.Namespace, settings: Settings) -> Embedder:
    if args.hashing_embedder:
        return HashingEmbedder()
    from streamguard.wiring import build_embedder  # loads a model: only when asked to

    return build_embedder(settings)


def _content(args: argparse.Namespace, settings: Settings) -> tuple[ContentIndex, dict[str, Any]]:
    """The catalogue's content index, embedded up front, and what to report of it."""
    embedder = _embedder(args, settings)
    index = ContentIndex(embedder, k=args.content_k, max_items=1_000_000)
    started = time.perf_counter()
    with args.catalogue.open("rb") as fh:
        queued = index_catalogue(index, read_events(fh))
    seconds = time.perf_counter() - started
    name = "hashing" if isinstance(embedder, HashingEmbedder) else settings.model
    return index, {
        "catalogue": str(args.catalogue),
        "products": queued,
        "embedder": name,
        "dim": embedder.dim,
        "k": args.content_k,
        "seconds": round(seconds, 2),
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate, print the table and the JSON line. 0 when it ran, 2 when it could not."""
    if args.k < 1:
        print("streamguard eval-recommender: --k must be >= 1", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 0:
        print("streamguard eval-recommender: --limit must be >= 0", file=sys.stderr)
        return 2
    if args.content_k < 1:
        print("streamguard eval-recommender: --content-k must be >= 1", file=sys.stderr)
        return 2
    if args.catalogue is not None and not args.catalogue.is_file():
        print(f"streamguard eval-recommender: no catalogue {args.catalogue}", file=sys.stderr)
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
        model = MODELS[args.model]()
        compare: dict[str, RankingModel] = {}
        content: dict[str, Any] | None = None
        if args.catalogue is not None and not hasattr(model, "content"):
            content = {"catalogue": str(args.catalogue), "used": False}
            print(
                f"streamguard eval-recommender: {args.model} takes no content; --catalogue ignored",
                file=sys.stderr,
            )
        elif args.catalogue is not None:
            index, content = _content(args, settings)
            content["used"] = attach_content(model, index)
            compare[f"{args.model} no content"] = MODELS[args.model]()
        if not args.no_compare:
            compare.update((n, build()) for n, build in MODELS.items() if n != args.model)
        result = evaluate(events, k=args.k, model=model, compare=compare)
    source = args.events.name
    if content is not None and content["used"]:
        source += f" + content of {content['products']:,} products ({content['embedder']})"
    print(format_table(result, source))
    summary = result.as_dict()
    if content is not None:
        summary["content"] = content
    print(orjson.dumps(summary).decode())
    return 0
