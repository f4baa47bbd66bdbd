"""``streamguard replay``: a real dataset (MovieLens, Olist) as events, optionally faulted.

The dataset is read from ``--data-dir`` (default ``<repo>/../shared/data``) at run time.
Records go to Kafka (``--rate`` default 1000/s) or a JSON-lines file (``--out``,
unthrottled unless ``--rate``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from streamguard.sources._common import (
    CommandError,
    add_fault_arguments,
    add_output_arguments,
    build_fault_mix,
    emit,
)

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["DATASET_NAMES", "add_arguments", "run"]

DATASET_NAMES = ("movielens-ratings", "movielens-movies", "olist-products")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard replay``."""
    parser.add_argument(
        "--dataset",
        required=True,
        choices=DATASET_NAMES,
        help="movielens-ratings (behaviour), movielens-movies or olist-products (product)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding movielens/ and olist/ (default: ../shared/data next to the repo)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="replay at most N records")
    add_fault_arguments(parser, default_rate=0.0)
    add_output_arguments(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Replay and send; print a summary. 0 on success, 1 on failure, 2 on bad usage."""
    from streamguard.sources.faults import FaultInjector
    from streamguard.sources.replay import DATASETS, DataNotFoundError, replay

    report = sys.stderr if args.out == "-" else sys.stdout
    dataset = DATASETS[args.dataset]
    try:
        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must be >= 0", 2)
        if args.rate is not None and args.rate <= 0:
            raise CommandError("--rate must be > 0", 2)
        mix = build_fault_mix(args, dataset.stream, exclude=dataset.inapplicable_faults)
        injector = FaultInjector(
            mix, seed=args.seed, too_large_bytes=int(settings.max_record_bytes) + 1024
        )
        try:
            records = replay(
                args.dataset, data_dir=args.data_dir, limit=args.limit, injector=injector
            )
        except DataNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        stats = emit(records, args, settings, (dataset.stream,))
    except CommandError as exc:
        print(f"streamguard replay: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"replayed {args.dataset} ({dataset.stream} events)", file=report)
    print(stats.summary(), file=report)
    missed = injector.missed()
    if missed:
        print(f"  faults drawn but not applied: {missed}", file=report)
    return 1 if stats.failed else 0
