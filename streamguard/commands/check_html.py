"""``streamguard check FILE --html REPORT``: the run's self-contained HTML report.

Built after the run from what it wrote (``report.json``'s contents, ``findings.jsonl``,
the first records of ``quarantine.jsonl``), the drift statistics sampled during the run,
and the inventory of the input file (one more pass over it, profiling only).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamguard.commands.inventory import profile_file
from streamguard.report import DriftSeries, render_check_report, sample_quarantine_file

if TYPE_CHECKING:
    from streamguard.commands.check_result import CheckResult

__all__ = ["write_html"]


def _findings(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


def write_html(
    html: Path,
    result: CheckResult,
    source: Path,
    stream: str,
    series: DriftSeries | None,
) -> None:
    """Write the HTML report of ``result`` (a run over ``source``) to ``html``."""
    report = result.report()
    page = render_check_report(
        report,
        source_name=source.name,
        findings=_findings(result.out_dir / "findings.jsonl"),
        curves=series.curves() if series is not None else None,
        examples=sample_quarantine_file(result.out_dir / "quarantine.jsonl"),
        inventory=profile_file(source, stream).snapshot(),
    )
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(page, encoding="utf-8")
