"""``streamguard generate``: synthetic behaviour / product events with injected faults.

To Kafka (the configured broker or ``--bootstrap``) at ``--rate`` records/s, or to a
JSON-lines file with ``--out``. With ``--out``, ``--duration D`` means D seconds' worth
of records at ``--rate`` (default 1000/s), written as fast as the disk takes them unless
``--rate`` is given. Event time starts at a fixed instant (same seed, same bytes) unless
``--start now``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from streamguard.sources._common import (
    DEFAULT_KAFKA_RATE,
    CommandError,
    add_fault_arguments,
    add_output_arguments,
    build_fault_mix,
    emit,
)

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard generate``."""
    parser.add_argument(
        "--stream",
        choices=("behavior", "product", "both"),
        default="both",
        help="which events to generate (default both: ~10%% product events)",
    )
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--count", type=int, metavar="N", help="number of records")
    limit.add_argument(
        "--duration", type=float, metavar="SECONDS", help="run this long (default: forever)"
    )
    add_fault_arguments(parser, default_rate=0.1)
    parser.add_argument(
        "--start",
        default=None,
        metavar="ISO|now",
        help="event time of the first record (RFC 3339, or 'now' for the wall clock;"
        " default 2026-11-01T00:00:00Z)",
    )
    add_output_arguments(parser)


def _start(text: str | None) -> datetime | int | None:
    if text is None:
        return None
    if text == "now":
        return int(time.time() * 1000)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--start: not an RFC 3339 time or 'now': {text!r}", 2) from exc


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Generate and send; print a summary. 0 on success, 1 on failure, 2 on bad usage."""
    from streamguard.sources.faults import STREAMS, FaultInjector, Stream
    from streamguard.sources.synthetic import generate

    report = sys.stderr if args.out == "-" else sys.stdout
    try:
        if args.count is not None and args.count < 0:
            raise CommandError("--count must be >= 0", 2)
        if args.rate is not None and args.rate <= 0:
            raise CommandError("--rate must be > 0", 2)
        if args.duration is not None and args.duration <= 0:
            raise CommandError("--duration must be > 0", 2)
        streams: tuple[Stream, ...] = STREAMS if args.stream == "both" else (args.stream,)
        mix = build_fault_mix(args, args.stream)
        nominal_rate = args.rate or DEFAULT_KAFKA_RATE
        count, duration_s = args.count, args.duration
        if args.out and duration_s is not None:
            count, duration_s = int(duration_s * nominal_rate), None
        injector = FaultInjector(mix, seed=args.seed, too_large_bytes=_too_large(settings))
        records = generate(
            args.stream,
            count,
            seed=args.seed,
            injector=injector,
            start=_start(args.start),
            mean_gap_ms=1000.0 / nominal_rate,
        )
        stats = emit(records, args, settings, streams, duration_s=duration_s)
    except CommandError as exc:
        print(f"streamguard generate: {exc}", file=sys.stderr)
        return exc.exit_code
    print(stats.summary(), file=report)
    missed = injector.missed()
    if missed:
        print(f"  faults drawn but not applied: {missed}", file=report)
    return 1 if stats.failed else 0


def _too_large(settings: Settings) -> int:
    # a too_large value must exceed the pipeline's limit: 1 KiB above it
    return int(settings.max_record_bytes) + 1024
