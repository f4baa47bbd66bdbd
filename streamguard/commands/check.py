"""``streamguard check FILE``: the pipeline over a JSON-lines file, no Kafka.

Each line of FILE is one raw message value (possibly not JSON). Writes
``DIR/clean.jsonl``, ``DIR/quarantine.jsonl``, ``DIR/findings.jsonl`` (drift and anomaly
findings, from the same engine as the worker, run synchronously; ``--no-drift`` skips
it) and ``DIR/report.json`` and prints a human summary. The ``source`` of line *n* (0-based) is
``{"topic": "file:<name>", "partition": 0, "offset": n}``.

``--contracts PATH`` runs the stream under its ODCS data contract
(:mod:`streamguard.contracts`); ``--stream`` may then name a stream only a contract
declares.

Exit code 0 when it ran, whatever it found, unless a ``--fail-on`` condition holds
(``quarantine>1%``, ``finding``, ``quality<0.9``, ... see :mod:`streamguard.quality.gate`):
then 1, naming each condition that failed. 2 when it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from streamguard.commands.check_child import ChildJob
from streamguard.commands.check_parallel import CheckOffload, OffloadError, preload_models
from streamguard.commands.check_result import CheckResult, format_summary
from streamguard.commands.contract_options import (
    add_contracts_argument,
    command_contracts,
    stream_contract,
)
from streamguard.commands.file_input import (
    InMemoryCatalogue,
    StreamClock,
    iter_line_blocks,
    iter_lines,
    load_catalogue,
    write_lines,
)
from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.events.records import SourcePosition
from streamguard.pipeline import PipelineObserver, RecordPipeline, StreamName
from streamguard.quality.gate import Condition, parse_condition
from streamguard.quality.tally import RunTally
from streamguard.report import DriftSeries
from streamguard.runtime.heap import tune_garbage_collector
from streamguard.runtime.native_threads import limit_blas_threads
from streamguard.validate.dedupe import DedupeIndex
from streamguard.validate.pii_policy import PiiPolicy
from streamguard.wiring import build_anomaly_stamp, build_scorers, pipeline_observers

if TYPE_CHECKING:
    from streamguard.embed.base import Embedder

__all__ = [
    "CheckResult",
    "InMemoryCatalogue",
    "StreamClock",
    "add_arguments",
    "check_file",
    "format_summary",
    "iter_lines",
    "load_catalogue",
    "run",
]

PROGRESS_EVERY_S = 5.0
#: Records between two samples of the drift statistics for ``--html``'s plots.
SERIES_EVERY = 100


def check_file(
    path: Path,
    stream: StreamName,
    out_dir: Path,
    settings: Settings,
    *,
    catalogue: InMemoryCatalogue | None = None,
    progress: IO[str] | None = None,
    drift: bool = True,
    embedder: Embedder | None = None,
    series: DriftSeries | None = None,
    contracts: ContractSet | None = None,
    offload: bool = True,
) -> CheckResult:
    """Run the pipeline over ``path``, writing clean/quarantine/report files to ``out_dir``.

    With ``drift`` the drift and anomaly engine runs too (``embedder``: an already loaded
    model instead of ``settings.model``) and ``findings.jsonl`` is written. ``series``
    collects the drift statistics every :data:`SERIES_EVERY` records (for ``--html``).
    ``contracts``: the stream's contract (if any) replaces its shipped rules; a stream
    only a contract declares gets the drift engine and anomaly score on the fields its
    schema declares (:mod:`streamguard.contracts.drift_fields`). ``offload``: run quality,
    the writing of ``clean.jsonl``, schema drift and the embedded texts' detectors in a
    child process (:mod:`streamguard.commands.check_parallel`; not with ``series``,
    which samples the detectors' statistics as the records go); the outputs are the same
    either way.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # numpy's BLAS pool spins between the detectors' small products: ~1.3 s of a core
    # that the child process needs (runtime.native_threads). Before the fork: both.
    limit_blas_threads()
    contracts = contracts if contracts is not None else ContractSet({})
    contract = contracts.get(stream)
    engine = None
    topic = f"file:{path.name}"
    scoring: PipelineObserver
    if drift:
        from streamguard.wiring import build_engines

        engine = scoring = build_engines(
            settings, [stream], synchronous=True, embedder=embedder, contracts=contracts
        )[stream]
    else:
        # Without the drift engine, the anomaly score alone: _dq.anomaly_score is a
        # number in every clean record (DESIGN.md), with or without --no-drift.
        scoring = build_anomaly_stamp(settings, stream, contracts)
    clock = StreamClock()
    scorer = build_scorers(settings, catalogue=catalogue, contracts=contracts, clock=clock)[stream]
    clean_path = out_dir / "clean.jsonl"
    split: CheckOffload | None = None
    if offload and series is None:
        # Fork before any thread starts (the preload's).
        job = ChildJob(path, topic, settings.max_record_bytes, clean_path, scorer, clock, engine)
        split = CheckOffload.start(job)
    observers: list[PipelineObserver]
    if split is not None:  # quality and the clean file are the child's
        observers = [split.observer or scoring]
    else:
        observers = pipeline_observers(drift=scoring, quality=scorer, clock=clock)
    if engine is not None:
        preload_models(engine)
    pipeline = RecordPipeline(
        stream,
        max_record_bytes=settings.max_record_bytes,
        dedupe=DedupeIndex(settings.dedupe_window_s, settings.dedupe_max_entries),
        catalogue=catalogue,
        observers=observers,
        pii_policy=PiiPolicy.for_stream(contracts.pii_policies(settings.pii_policy), stream),
        contract=contract,
    )
    tally = RunTally(stream)
    started = last_progress = time.monotonic()
    with (
        split or contextlib.nullcontext(),  # a failed run stops the child
        path.open("rb") as source,
        clean_path.open("wb") if split is None else contextlib.nullcontext() as clean,
        (out_dir / "quarantine.jsonl").open("wb") as quarantine,
    ):
        # The hot loop: bound methods once, values written a hundred lines at a time.
        # Lines a block at a time: no per-line read or generator step.
        process, add = pipeline.process, tally.add
        hand = split.add if split is not None else None
        cleaned: list[bytes] = []
        quarantined: list[bytes] = []
        offset = -1
        for block in iter_line_blocks(source):
            for line in block:
                offset += 1
                outcome = process(line, SourcePosition(topic, 0, offset))
                if outcome.status == "quarantine":
                    quarantined.append(outcome.value)
                elif clean is not None:
                    cleaned.append(outcome.value)
                if hand is not None:
                    hand(outcome)
                add(outcome)
                if offset % SERIES_EVERY:
                    continue
                if clean is not None:
                    write_lines(clean, cleaned)
                write_lines(quarantine, quarantined)
                if series is not None and engine is not None:
                    series.add(offset, engine.drain_stats().drift)
                if progress is not None and offset % 10_000 == 0:  # a multiple of SERIES_EVERY
                    now = time.monotonic()
                    if now - last_progress >= PROGRESS_EVERY_S:
                        last_progress = now
                        print(
                            f"  ... {offset:,} records ({offset / (now - started):,.0f}/s)",
                            file=progress,
                        )
        if clean is not None:
            write_lines(clean, cleaned)
        write_lines(quarantine, quarantined)
        findings = None
        if split is not None:
            child, findings = split.finish()
            quality, quality_findings = child.quality, child.quality_findings
    if split is None:
        scorer.close_window()
        quality_findings, quality = scorer.drain_findings(), scorer.snapshot()
        if engine is not None:
            engine.close()
            if series is not None:
                series.add(tally.total, engine.drain_stats().drift)
            findings = engine.drain_findings()
    if findings is not None:
        with (out_dir / "findings.jsonl").open("wb") as fh:
            fh.writelines(f.to_json() + b"\n" for f in findings)
            fh.writelines(orjson.dumps(f) + b"\n" for f in quality_findings)
    result = CheckResult(
        tally,
        out_dir,
        time.monotonic() - started,
        findings,
        quality=quality,
        quality_findings=quality_findings,
    )
    (out_dir / "report.json").write_bytes(
        orjson.dumps(result.report(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard check``."""
    parser.add_argument("file", type=Path, help="JSON-lines file, one raw message value a line")
    parser.add_argument(
        "--stream",
        default="behavior",
        help="behavior, product, or a stream a --contracts file declares",
    )
    parser.add_argument("--out", type=Path, default=Path("streamguard-check"), help="output dir")
    add_contracts_argument(parser)
    parser.add_argument(
        "--catalogue",
        type=Path,
        help="product JSON-lines file: known products fill missing prices on cart/purchase",
    )
    parser.add_argument(
        "--no-drift",
        dest="drift",
        action="store_false",
        help=(
            "skip drift detection and the embedding model (no findings.jsonl);"
            " clean records still carry _dq.anomaly_score"
        ),
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        default=[],
        type=_condition,
        metavar="CONDITION",
        help=(
            "exit 1 when it holds (repeatable): quarantine>1%%, corrected>=100, "
            "quality<0.9, finding, finding=schema_drift, reason=duplicate"
        ),
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write a self-contained HTML report (opens offline) to FILE",
    )


def _condition(text: str) -> Condition:
    try:
        return parse_condition(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard check``."""
    path: Path = args.file
    if not path.is_file():
        print(f"streamguard check: {path}: no such file", file=sys.stderr)
        return 2
    conditions: list[Condition] = getattr(args, "fail_on", [])
    drift = getattr(args, "drift", True)
    if not drift and any(c.text.replace(" ", "").startswith("finding") for c in conditions):
        print(
            "streamguard check: --fail-on finding needs drift detection: drop --no-drift",
            file=sys.stderr,
        )
        return 2
    contracts = command_contracts(getattr(args, "contracts", None), "check")
    if contracts is None:
        return 2
    known, _ = stream_contract(contracts, args.stream, "check")
    if not known:
        return 2
    catalogue = None
    html: Path | None = getattr(args, "html", None)
    # A short-lived process that allocates per record: the worker's collector settings
    # (runtime.heap) spare it most young collections and every walk of the start-up heap.
    tune_garbage_collector()
    series = DriftSeries() if html is not None else None
    try:
        if args.catalogue is not None:
            catalogue = load_catalogue(
                args.catalogue, settings.max_record_bytes, contracts.get("product")
            )
            print(f"catalogue: {len(catalogue):,} products from {args.catalogue}", file=sys.stderr)
        result = check_file(
            path,
            args.stream,
            args.out,
            settings,
            catalogue=catalogue,
            progress=sys.stderr,
            drift=drift,
            series=series,
            contracts=contracts,
        )
        if html is not None:
            from streamguard.commands.check_html import write_html

            write_html(html, result, path, args.stream, series)
    except (OSError, OffloadError) as exc:
        print(f"streamguard check: {exc}", file=sys.stderr)
        return 2
    print(format_summary(result, str(path)))
    if html is not None:
        print(f"  HTML report: {html}")
    report = result.report()
    failures = [(c.text, why) for c in conditions if (why := c.failed(report)) is not None]
    for text, why in failures:
        print(f"FAIL --fail-on {text}: {why}")
    return 1 if failures else 0
