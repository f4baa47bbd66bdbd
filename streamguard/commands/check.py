"""``streamguard check FILE``: the pipeline over a JSON-lines file, no Kafka.

Each line of FILE is one raw message value (possibly not JSON). Writes
``DIR/clean.jsonl``, ``DIR/quarantine.jsonl``, ``DIR/findings.jsonl`` (drift and anomaly
findings, from the same engine as the worker, run synchronously; ``--no-drift`` skips
it) and ``DIR/report.json`` and prints a human summary. The ``source`` of line *n* (0-based) is
``{"topic": "file:<name>", "partition": 0, "offset": n}``.

Exit code 0 when it ran, whatever it found, unless a ``--fail-on`` condition holds
(``quarantine>1%``, ``finding``, ``quality<0.9``, ... see :mod:`streamguard.quality.gate`):
then 1, naming each condition that failed. 2 when it could not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from streamguard.config import Settings
from streamguard.events.records import Outcome, SourcePosition
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.quality import QualitySnapshot
from streamguard.quality.gate import Condition, parse_condition
from streamguard.quality.tally import RunTally
from streamguard.report import DriftSeries
from streamguard.validate.dedupe import DedupeIndex
from streamguard.wiring import build_anomaly_stamp, build_scorers, pipeline_observers

if TYPE_CHECKING:
    from streamguard.embed.base import Embedder
    from streamguard.events.findings import Finding

__all__ = ["CheckResult", "add_arguments", "check_file", "format_summary", "run"]

PROGRESS_EVERY_S = 5.0
#: Records between two samples of the drift statistics for ``--html``'s plots.
SERIES_EVERY = 100


class InMemoryCatalogue:
    """Latest clean product per product_id, built from a product file."""

    def __init__(self) -> None:
        self._products: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._products)

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest clean product record, or None."""
        return self._products.get(product_id)

    def apply(self, record: dict[str, Any]) -> None:
        """Upsert or delete from a clean product record."""
        if record.get("op") == "delete":
            self._products.pop(record["product_id"], None)
        else:
            self._products[record["product_id"]] = record


class StreamClock:
    """ "Now" for a file: the newest event time seen so far (wall time before the first).

    Timeliness of a historical file is judged against the file's own time, not today's:
    an event is late when it is older than the newest one by more than the allowance.
    Runs as a pipeline observer placed before the quality scorer.

    >>> clock = StreamClock()
    >>> clock.on_clean({"ts": "2026-01-01T00:00:10.000Z"}, None)  # type: ignore[arg-type]
    >>> clock.on_clean({"ts": "2026-01-01T00:00:05.000Z"}, None)  # type: ignore[arg-type]
    >>> clock() == datetime.fromisoformat("2026-01-01T00:00:10+00:00").timestamp()
    True
    """

    def __init__(self) -> None:
        self._latest: float | None = None

    def __call__(self) -> float:
        return time.time() if self._latest is None else self._latest

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Not needed: clean records carry a normalised ``ts``."""

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Advance to this record's event time if it is the newest."""
        moment = datetime.fromisoformat(record["ts"]).timestamp()
        if self._latest is None or moment > self._latest:
            self._latest = moment

    def on_outcome(self, outcome: Outcome) -> None:
        """Not needed."""


class CheckResult:
    """What a check run produced: the tally and where the files went."""

    def __init__(
        self,
        tally: RunTally,
        out_dir: Path,
        elapsed_s: float,
        findings: list[Finding] | None = None,
        quality: QualitySnapshot | None = None,
        quality_findings: list[dict[str, Any]] | None = None,
    ) -> None:
        self.tally = tally
        self.out_dir = out_dir
        self.elapsed_s = elapsed_s
        self.findings = findings
        self.quality = quality
        self.quality_findings = quality_findings or []

    def report(self) -> dict[str, Any]:
        """The contents of report.json."""
        report = self.tally.report()
        report["elapsed_s"] = round(self.elapsed_s, 3)
        report["records_per_s"] = (
            round(self.tally.total / self.elapsed_s, 1) if self.elapsed_s else None
        )
        report["files"] = {
            "clean": str(self.out_dir / "clean.jsonl"),
            "quarantine": str(self.out_dir / "quarantine.jsonl"),
        }
        if self.findings is not None:
            kinds: dict[str, int] = {}
            for finding in self.findings:
                kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
            for quality_finding in self.quality_findings:
                kind = str(quality_finding["kind"])
                kinds[kind] = kinds.get(kind, 0) + 1
            report["findings"] = {"file": str(self.out_dir / "findings.jsonl"), "by_kind": kinds}
        if self.quality is not None:
            report["quality"] = {
                "composite": self.quality.composite,
                "dimensions": self.quality.dimensions,
            }
        return report


def iter_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines without their line ending; a final empty line (trailing newline) is no record."""
    for line in fh:
        yield line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")


def load_catalogue(path: Path, max_record_bytes: int) -> InMemoryCatalogue:
    """Run a product JSON-lines file through the product pipeline; keep the clean ones."""
    catalogue = InMemoryCatalogue()
    pipeline = RecordPipeline("product", max_record_bytes=max_record_bytes)
    with path.open("rb") as fh:
        for offset, line in enumerate(iter_lines(fh)):
            outcome = pipeline.process(line, SourcePosition(f"file:{path.name}", 0, offset))
            if outcome.record is not None:
                catalogue.apply(outcome.record)
    return catalogue


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
) -> CheckResult:
    """Run the pipeline over ``path``, writing clean/quarantine/report files to ``out_dir``.

    With ``drift`` the drift and anomaly engine runs too (``embedder``: an already loaded
    model instead of ``settings.model``) and ``findings.jsonl`` is written. ``series``
    collects the drift statistics every :data:`SERIES_EVERY` records (for ``--html``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = None
    if drift:
        from streamguard.wiring import build_engines

        engine = build_engines(settings, [stream], synchronous=True, embedder=embedder)[stream]
    # Without the drift engine, the anomaly score alone: _dq.anomaly_score is a number in
    # every clean record (DESIGN.md), with or without --no-drift.
    scoring = engine if engine is not None else build_anomaly_stamp(settings, stream)
    clock = StreamClock()
    scorer = build_scorers(settings, catalogue=catalogue, clock=clock)[stream]
    pipeline = RecordPipeline(
        stream,
        max_record_bytes=settings.max_record_bytes,
        dedupe=DedupeIndex(settings.dedupe_window_s, settings.dedupe_max_entries),
        catalogue=catalogue,
        observers=pipeline_observers(drift=scoring, quality=scorer, clock=clock),
    )
    tally = RunTally(stream)
    topic = f"file:{path.name}"
    started = last_progress = time.monotonic()
    with (
        path.open("rb") as source,
        (out_dir / "clean.jsonl").open("wb") as clean,
        (out_dir / "quarantine.jsonl").open("wb") as quarantine,
    ):
        for offset, line in enumerate(iter_lines(source)):
            outcome = pipeline.process(line, SourcePosition(topic, 0, offset))
            (clean if outcome.is_clean else quarantine).write(outcome.value + b"\n")
            tally.add(outcome)
            if series is not None and engine is not None and offset % SERIES_EVERY == 0:
                series.add(offset, engine.drain_stats().drift)
            if progress is not None and offset % 10_000 == 0:
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY_S:
                    last_progress = now
                    print(
                        f"  ... {offset:,} records ({offset / (now - started):,.0f}/s)",
                        file=progress,
                    )
    scorer.close_window()
    quality_findings = scorer.drain_findings()
    findings = None
    if engine is not None:
        engine.close()
        if series is not None:
            series.add(tally.total, engine.drain_stats().drift)
        findings = engine.drain_findings()
        with (out_dir / "findings.jsonl").open("wb") as fh:
            fh.writelines(f.to_json() + b"\n" for f in findings)
            fh.writelines(orjson.dumps(f) + b"\n" for f in quality_findings)
    result = CheckResult(
        tally,
        out_dir,
        time.monotonic() - started,
        findings,
        quality=scorer.snapshot(),
        quality_findings=quality_findings,
    )
    (out_dir / "report.json").write_bytes(
        orjson.dumps(result.report(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    return result


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def format_summary(result: CheckResult, source_name: str) -> str:
    """A human summary of a check run."""
    report = result.report()
    total = report["total"]
    outcomes = report["outcomes"]
    lines = [
        f"StreamGuard check: {source_name} ({report['stream']} stream)",
        f"  records     {total:>10,}   in {report['elapsed_s']:.2f}s",
    ]
    for status in ("valid", "corrected", "quarantine"):
        lines.append(f"  {status:<11} {outcomes[status]:>10,}   {_pct(outcomes[status], total)}")
    if report["reasons_by_field"]:
        lines.append("  quarantine reasons (code:field):")
        lines += [f"    {k:<34} {v:>8,}" for k, v in list(report["reasons_by_field"].items())[:12]]
    if report["corrections_by_field"]:
        lines.append("  corrections (rule:field):")
        lines += [
            f"    {k:<34} {v:>8,}" for k, v in list(report["corrections_by_field"].items())[:12]
        ]
    gaps = report["gaps"]
    checked = gaps["records_checked"]
    if gaps["missing"] or gaps["zero"]:
        lines.append(f"  gaps in clean records (of {checked:,} checked):")
        lines += [
            f"    missing {k:<26} {v:>8,}   {_pct(v, checked)}"
            for k, v in list(gaps["missing"].items())[:12]
        ]
        lines += [f"    zero    {k:<26} {v:>8,}" for k, v in gaps["zero"].items()]
    if result.quality is not None and result.quality.composite is not None:
        dims = ", ".join(
            f"{name} {score:.3f}"
            for name, score in result.quality.dimensions.items()
            if score is not None
        )
        lines.append(f"  quality {result.quality.composite:.3f} ({dims})")
    for quality_finding in result.quality_findings[:5]:
        lines.append(f"    quality_drop    {quality_finding.get('summary', quality_finding)}")
    if result.findings:
        lines.append(f"  findings ({len(result.findings):,}):")
        drift = [f for f in result.findings if f.kind != "anomaly"]
        lines += [f"    {f.kind:<15} {f.summary}" for f in drift[:12]]
        anomalies = len(result.findings) - len(drift)
        if anomalies:
            lines.append(f"    anomaly         {anomalies:,} records scored above the threshold")
    lines.append(
        f"  wrote {report['files']['clean']}, {report['files']['quarantine']}, report.json"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard check``."""
    parser.add_argument("file", type=Path, help="JSON-lines file, one raw message value a line")
    parser.add_argument("--stream", choices=("behavior", "product"), default="behavior")
    parser.add_argument("--out", type=Path, default=Path("streamguard-check"), help="output dir")
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
    catalogue = None
    html: Path | None = getattr(args, "html", None)
    series = DriftSeries() if html is not None else None
    try:
        if args.catalogue is not None:
            catalogue = load_catalogue(args.catalogue, settings.max_record_bytes)
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
        )
        if html is not None:
            from streamguard.commands.check_html import write_html

            write_html(html, result, path, args.stream, series)
    except OSError as exc:
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
