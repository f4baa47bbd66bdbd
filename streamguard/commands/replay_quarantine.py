"""``streamguard replay-quarantine``: re-check quarantined records after a fix.

Each quarantine record's original bytes go through today's pipeline (the one ``check``
runs: repair, validation under the stream's contract (``--contracts PATH``) or shipped
schema, PII policy, dedupe, anomaly score, quality; built by :func:`pipeline_factory`).
Records that now pass are delivered once, with lineage: ``_dq.source`` is the original
source position and ``_dq.replayed_from`` the quarantine record's own position.

- **File**: ``replay-quarantine QUARANTINE.jsonl --stream NAME --out DIR`` writes
  ``DIR/clean.jsonl`` (now passing), ``DIR/quarantine.jsonl`` (still failing, today's
  reasons, plus the records of another stream's topic, unchanged), ``DIR/rejects.jsonl``
  (lines that are not quarantine records, as quarantine records of the input file's
  position with the reason) and ``DIR/report.json``. The position of line *n* (1-based)
  is ``{"topic": "file:<name>", "partition": 0, "offset": n - 1}``.
- **Live**: ``replay-quarantine --from-topic streamguard.quarantine [--partition P]
  [--from-offset A] [--to-offset B] [--since ISO] [--until ISO] [--stream NAME]``; see
  :mod:`streamguard.commands.replay_quarantine_live`.

Records quarantined as ``duplicate`` stay quarantined, as do those of which only a
truncated head was kept. A source position listed twice is delivered once (the second is
a ``skipped_duplicates``). Exit code 0 when it ran, 2 when it could not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from streamguard.commands.contract_options import (
    add_contracts_argument,
    command_contracts,
    stream_contract,
)
from streamguard.commands.file_input import (
    InMemoryCatalogue,
    StreamClock,
    iter_lines,
    load_catalogue,
)
from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.events.records import SourcePosition, format_ts, quarantine_value
from streamguard.pipeline import RecordPipeline
from streamguard.quarantine import (
    BadEntry,
    Decision,
    QuarantineEntry,
    QuarantineReplayer,
    format_table,
    parse_entry,
)
from streamguard.validate.dedupe import DedupeIndex
from streamguard.validate.pii_policy import PiiPolicy
from streamguard.wiring import build_anomaly_stamp, build_scorers, pipeline_observers

__all__ = [
    "ReplayFiles",
    "StreamRouter",
    "add_arguments",
    "pipeline_factory",
    "replay_file",
    "route",
    "run",
]

PROGRESS_EVERY_S = 5.0
COMMAND = "replay-quarantine"


def pipeline_factory(
    settings: Settings,
    *,
    catalogue: InMemoryCatalogue | None = None,
    contracts: ContractSet | None = None,
) -> Callable[[str], RecordPipeline]:
    """The pipeline of a stream as ``check`` builds it (repair, the stream's contract or
    shipped schema, PII policy, dedupe, anomaly score, quality; no drift engine: a
    replay is no traffic to learn from); event-time "now" for quality, as over a file.

    The one place a replay's pipeline is made: everything that changes decisions (a
    catalogue, contracts, settings) comes in here.
    """
    contracts = contracts if contracts is not None else ContractSet({})
    policies = contracts.pii_policies(settings.pii_policy)

    def build(stream: str) -> RecordPipeline:
        contract = contracts.get(stream)
        clock = StreamClock()
        stream_catalogue = catalogue if stream == "behavior" else None
        scorers = build_scorers(
            settings, catalogue=stream_catalogue, contracts=contracts, clock=clock
        )
        return RecordPipeline(
            stream,
            max_record_bytes=settings.max_record_bytes,
            dedupe=DedupeIndex(settings.dedupe_window_s, settings.dedupe_max_entries),
            catalogue=stream_catalogue,
            observers=pipeline_observers(
                drift=build_anomaly_stamp(settings, stream, contracts),
                quality=scorers[stream],
                clock=clock,
            ),
            pii_policy=PiiPolicy.for_stream(policies, stream),
            contract=contract,
        )

    return build


class StreamRouter:
    """Which stream a quarantined record belongs to, by its source topic.

    The configured input topics name theirs (``events.behavior`` -> ``behavior``), as
    do the topics of streams a contract declares; a topic of no stream (a file) is
    ``chosen``'s. With ``chosen``, another stream's records are not replayed.

    >>> router = StreamRouter.from_settings(Settings(), None, chosen="behavior")
    >>> router.stream_of("events.behavior"), router.stream_of("file:x.jsonl")
    (('behavior', None), ('behavior', None))
    >>> router.stream_of("events.product")
    (None, 'other_stream')
    >>> StreamRouter.from_settings(Settings(), None).stream_of("file:x.jsonl")
    (None, 'unknown_stream')
    """

    def __init__(self, source_topics: Mapping[str, str], chosen: str | None = None) -> None:
        self.source_topics = dict(source_topics)
        self.chosen = chosen

    @classmethod
    def from_settings(
        cls, settings: Settings, contracts: ContractSet | None, chosen: str | None = None
    ) -> StreamRouter:
        """The router of the configured topics and the contracts' new streams."""
        topics = {settings.topic_behavior: "behavior", settings.topic_product: "product"}
        for contract in (contracts or ContractSet({})).new_streams():
            if contract.topic is not None:
                topics[contract.topic] = contract.stream
        return cls(topics, chosen)

    def stream_of(self, source_topic: str) -> tuple[str | None, str | None]:
        """``(stream, None)``, or ``(None, why)`` when the record is not replayed:
        ``other_stream`` or ``unknown_stream``."""
        named = self.source_topics.get(source_topic)
        if named is None:
            return (self.chosen, None) if self.chosen is not None else (None, "unknown_stream")
        if self.chosen is not None and named != self.chosen:
            return None, "other_stream"
        return named, None


class ReplayFiles:
    """The output files of a replay in ``out_dir`` (open them with ``with``)."""

    NAMES = ("clean", "quarantine", "rejects")

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> ReplayFiles:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.NAMES:
                self._files[name] = (self.out_dir / f"{name}.jsonl").open("wb")
        except OSError:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every file."""
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def paths(self) -> dict[str, str]:
        """Where each file is (for ``report.json``)."""
        return {name: str(self.out_dir / f"{name}.jsonl") for name in self.NAMES}

    def write(self, decision: Decision) -> None:
        """A decision's bytes: clean when moved, quarantine otherwise (skipped: none)."""
        if decision.value is not None:
            target = "clean" if decision.kind == "moved" else "quarantine"
            self._files[target].write(decision.value + b"\n")

    def unchanged(self, value: bytes) -> None:
        """A quarantine record not replayed (another stream's): kept as it was."""
        self._files["quarantine"].write(value + b"\n")

    def reject(self, value: bytes | None, position: SourcePosition, error: BadEntry) -> None:
        """Something that is not a quarantine record, held with the reason."""
        now = format_ts(datetime.now(UTC))
        self._files["rejects"].write(
            quarantine_value(value, position, (error.reason(),), now) + b"\n"
        )

    def write_report(self, report: dict[str, Any]) -> None:
        """``report.json``."""
        (self.out_dir / "report.json").write_bytes(
            orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
        )


def route(
    replayer: QuarantineReplayer,
    value: bytes | None,
    position: SourcePosition,
    router: StreamRouter,
    files: ReplayFiles | None,
) -> tuple[Decision | None, QuarantineEntry | None]:
    """Parse, pick the stream and replay one quarantine record read at ``position``.

    Returns the decision (``None`` when not replayed) and the entry (``None`` when
    ``value`` is not a quarantine record); writes to ``files`` when given.
    """
    try:
        entry = parse_entry(value)
    except BadEntry as error:
        replayer.reject(error)
        if files is not None:
            files.reject(value, position, error)
        return None, None
    stream, why = router.stream_of(entry.source.topic)
    if stream is None:
        replayer.not_replayed(why or "unknown_stream")
        if files is not None and value is not None:
            files.unchanged(value)
        return None, entry
    decision = replayer.replay(entry, position, stream)
    if files is not None:
        files.write(decision)
    return decision, entry


def replay_file(
    path: Path,
    stream: str,
    out_dir: Path,
    settings: Settings,
    *,
    pipeline_for: Callable[[str], RecordPipeline] | None = None,
    contracts: ContractSet | None = None,
    progress: IO[str] | None = None,
) -> dict[str, Any]:
    """Replay every line of the quarantine file ``path`` as records of ``stream``;
    returns ``report.json``'s body. ``pipeline_for`` defaults to
    :func:`pipeline_factory` of ``settings`` and ``contracts``."""
    replayer = QuarantineReplayer(pipeline_for or pipeline_factory(settings, contracts=contracts))
    router = StreamRouter.from_settings(settings, contracts, chosen=stream)
    topic = f"file:{path.name}"
    started = last_progress = time.monotonic()
    with ReplayFiles(out_dir) as files, path.open("rb") as source:
        for offset, line in enumerate(iter_lines(source)):
            route(replayer, line, SourcePosition(topic, 0, offset), router, files)
            if progress is not None and offset % 1000 == 0:
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY_S:
                    last_progress = now
                    moved = replayer.tally.moved_to_clean
                    print(f"  ... {offset:,} records, {moved:,} moved to clean", file=progress)
        report = {
            "mode": "file",
            "input": str(path),
            "stream": stream,
            **replayer.tally.report(),
            "elapsed_s": round(time.monotonic() - started, 3),
            "files": files.paths(),
        }
        files.write_report(report)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard replay-quarantine``."""
    parser.add_argument(
        "file", type=Path, nargs="?", help="quarantine JSON-lines file (or use --from-topic)"
    )
    parser.add_argument(
        "--stream",
        default=None,
        metavar="NAME",
        help="behavior, product or a stream a --contracts file declares (required for a"
        " file; live: only that stream's records)",
    )
    add_contracts_argument(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output dir (file mode: default streamguard-replay; live: optional copies)",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        help="product JSON-lines file: known products fill missing prices on cart/purchase",
    )
    live = parser.add_argument_group("live (a range of the quarantine topic)")
    live.add_argument("--from-topic", metavar="TOPIC", help="e.g. streamguard.quarantine")
    live.add_argument("--partition", type=int, action="append", metavar="P", help="repeatable")
    live.add_argument("--from-offset", type=int, metavar="A", help="first offset (default: 0)")
    live.add_argument(
        "--to-offset", type=int, metavar="B", help="end offset, not included (default: the end)"
    )
    live.add_argument("--since", type=_moment, metavar="ISO", help="record time >= ISO")
    live.add_argument("--until", type=_moment, metavar="ISO", help="record time < ISO")
    live.add_argument("--bootstrap", metavar="HOST:PORT", help="default: from STREAMGUARD_BROKER")


def _moment(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _usage_error(args: argparse.Namespace) -> str | None:
    live_only = ("partition", "from_offset", "to_offset", "since", "until", "bootstrap")
    if (args.file is None) == (args.from_topic is None):
        return "give a quarantine file or --from-topic TOPIC (one of them)"
    if args.file is not None:
        given = [name for name in live_only if getattr(args, name) is not None]
        if given:
            return f"--{given[0].replace('_', '-')} needs --from-topic"
        if args.stream is None:
            return "a file needs --stream NAME (behavior, product, or a contract's stream)"
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard replay-quarantine``."""
    problem = _usage_error(args)
    if problem is not None:
        print(f"streamguard replay-quarantine: {problem}", file=sys.stderr)
        return 2
    contracts = command_contracts(getattr(args, "contracts", None), COMMAND)
    if contracts is None:
        return 2
    if args.stream is not None and not stream_contract(contracts, args.stream, COMMAND)[0]:
        return 2
    try:
        catalogue = None
        if args.catalogue is not None:
            catalogue = load_catalogue(args.catalogue, settings.max_record_bytes)
            print(f"catalogue: {len(catalogue):,} products from {args.catalogue}", file=sys.stderr)
        factory = pipeline_factory(settings, catalogue=catalogue, contracts=contracts)
        if args.from_topic is not None:
            from streamguard.commands.replay_quarantine_live import run_live

            return run_live(args, settings, factory, contracts)
        path: Path = args.file
        if not path.is_file():
            print(f"streamguard replay-quarantine: {path}: no such file", file=sys.stderr)
            return 2
        out_dir: Path = args.out or Path("streamguard-replay")
        report = replay_file(
            path,
            args.stream,
            out_dir,
            settings,
            pipeline_for=factory,
            contracts=contracts,
            progress=sys.stderr,
        )
    except OSError as exc:
        print(f"streamguard replay-quarantine: {exc}", file=sys.stderr)
        return 2
    print(format_table(report, f"StreamGuard replay-quarantine: {path} ({args.stream} stream)"))
    print(f"  wrote {', '.join(report['files'].values())}, report.json")
    return 0
