"""What a ``streamguard check`` run produced (:class:`CheckResult`: the tally, the
findings, the quality scores, the report.json it writes) and its human summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamguard.quality import QualitySnapshot
from streamguard.quality.tally import RunTally

if TYPE_CHECKING:
    from streamguard.events.findings import Finding

__all__ = ["CheckResult", "format_summary"]


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
