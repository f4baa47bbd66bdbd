"""What ``streamguard generate`` and ``streamguard replay`` share: options and output.

Only the standard library is imported at module level; the CLI imports this module to
build its parser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from streamguard.config import Settings
    from streamguard.sources.faults import FaultMix, GeneratedRecord, Stream
    from streamguard.sources.output import ProduceStats

__all__ = [
    "CommandError",
    "add_fault_arguments",
    "add_output_arguments",
    "build_fault_mix",
    "emit",
    "resolve_bootstrap",
]

#: Records per second sent to Kafka when ``--rate`` is not given.
DEFAULT_KAFKA_RATE = 1000.0


class CommandError(Exception):
    """A reason the command cannot run, with the exit code to return."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_fault_arguments(parser: argparse.ArgumentParser, *, default_rate: float) -> None:
    """``--fault-rate``, ``--faults`` and ``--seed``."""
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=default_rate,
        metavar="P",
        help="share of records with one injected fault, spread evenly over the fault kinds"
        f" of the stream, too_large excluded (default {default_rate})",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="NAME=P,...",
        help="per-fault probabilities overriding --fault-rate's share, e.g."
        " 'price_as_string=0.02,too_large=0.0005' (prefix behavior. or product. to"
        " restrict a name to one stream)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--labels``, ``--bootstrap``, ``--rate``, ``--no-create-topics``."""
    parser.add_argument(
        "--out",
        metavar="FILE.jsonl",
        help="write JSON lines (one raw value per line) instead of producing to Kafka;"
        " '-' for stdout; with both streams, FILE.behavior.jsonl and FILE.product.jsonl",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="also write one JSON line per record: stream, key, fault, expected,"
        " expected_code (and line, for --out)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: from STREAMGUARD_BROKER)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="EVENTS_PER_S",
        help=f"records per second (default {DEFAULT_KAFKA_RATE:.0f} to Kafka, unlimited to a file)",
    )
    parser.add_argument(
        "--no-create-topics",
        dest="create_topics",
        action="store_false",
        help="do not create missing topics (default: create them with the configured"
        " partition count, replication factor 1)",
    )


def build_fault_mix(args: argparse.Namespace, stream: str, exclude: Iterable[str] = ()) -> FaultMix:
    """The fault mix from ``--fault-rate`` and ``--faults`` (raises CommandError, code 2)."""
    from streamguard.sources.faults import FaultMix

    try:
        mix = FaultMix.uniform(args.fault_rate, stream, exclude=exclude)
        if args.faults:
            mix = mix.updated(FaultMix.parse(args.faults, stream))
    except ValueError as exc:
        raise CommandError(f"invalid fault mix: {exc}", 2) from exc
    return mix


def resolve_bootstrap(args: argparse.Namespace, settings: Settings) -> str:
    """``--bootstrap`` or the configured broker; the embedded broker needs an address."""
    if args.bootstrap:
        return str(args.bootstrap)
    if settings.is_embedded:
        raise CommandError(
            "the broker is 'embedded', whose address is only known once it runs: pass"
            " --bootstrap HOST:PORT (e.g. what `streamguard broker` prints) or set"
            " STREAMGUARD_BROKER=kafka://HOST:PORT (or use --out FILE to write a file)",
            2,
        )
    return settings.bootstrap_servers()


@contextlib.contextmanager
def _open_outputs(out: str, streams: tuple[Stream, ...]) -> Iterator[dict[str, IO[bytes]]]:
    if out == "-":
        if len(streams) > 1:
            raise CommandError("--out - takes one stream: pass --stream behavior or product", 2)
        yield {streams[0]: sys.stdout.buffer}
        sys.stdout.flush()
        return
    path = Path(out)
    paths = {streams[0]: path}
    if len(streams) > 1:
        paths = {s: path.with_name(f"{path.stem}.{s}{path.suffix or '.jsonl'}") for s in streams}
    with contextlib.ExitStack() as stack:
        try:
            for p in paths.values():
                p.parent.mkdir(parents=True, exist_ok=True)  # like `check --out`
            files: dict[str, IO[bytes]] = {
                s: stack.enter_context(p.open("wb")) for s, p in paths.items()
            }
        except OSError as exc:
            raise CommandError(f"cannot write {exc.filename}: {exc.strerror}", 1) from exc
        yield files
    for p in paths.values():
        print(f"wrote {p}", file=sys.stderr)


def emit(
    records: Iterable[GeneratedRecord],
    args: argparse.Namespace,
    settings: Settings,
    streams: tuple[Stream, ...],
    *,
    duration_s: float | None = None,
) -> ProduceStats:
    """Send ``records`` where the options say (file or Kafka) and return the stats."""
    from streamguard.sources.output import write_jsonl

    labels_file = None
    if args.labels is not None:
        try:
            labels_file = args.labels.open("wb")
        except OSError as exc:
            raise CommandError(f"cannot write labels file {args.labels}: {exc.strerror}") from exc
    try:
        if args.out:
            with _open_outputs(args.out, streams) as outputs:
                return write_jsonl(
                    records, outputs, labels=labels_file, rate=args.rate, duration_s=duration_s
                )
        bootstrap = resolve_bootstrap(args, settings)
        if labels_file is not None:
            records = _tee_labels(records, labels_file)
        topics = {"behavior": settings.topic_behavior, "product": settings.topic_product}
        return asyncio.run(
            _produce_checked(
                records,
                bootstrap,
                {s: topics[s] for s in streams},
                args,
                settings,
                duration_s,
            )
        )
    finally:
        if labels_file is not None:
            labels_file.close()


def _tee_labels(records: Iterable[GeneratedRecord], sink: IO[bytes]) -> Iterator[GeneratedRecord]:
    import orjson

    for record in records:
        sink.write(orjson.dumps(record.label()) + b"\n")
        yield record


async def _produce_checked(
    records: Iterable[GeneratedRecord],
    bootstrap: str,
    topics: dict[str, str],
    args: argparse.Namespace,
    settings: Settings,
    duration_s: float | None,
) -> ProduceStats:
    from streamguard.kafka.admin import ensure_topics
    from streamguard.kafka.errors import KafkaRequestError
    from streamguard.sources.output import produce

    options = settings.kafka_client_options()
    try:
        if args.create_topics:
            await ensure_topics(
                bootstrap,
                topics.values(),
                partitions=settings.partitions,
                client_options=options,
            )
        return await produce(
            records,
            bootstrap,
            topics,
            rate=args.rate or DEFAULT_KAFKA_RATE,
            client_options=options,
            duration_s=duration_s,
        )
    except OSError as exc:  # KafkaUnavailableError included
        raise CommandError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    except KafkaRequestError as exc:  # its message is the client error's repr
        raise CommandError(f"Kafka error while producing to {bootstrap}: {exc}") from exc
