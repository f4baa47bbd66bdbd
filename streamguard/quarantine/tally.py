"""Counting a quarantine replay: what moved, what stayed and why, what was skipped.

Every record read lands in exactly one count, so
``read == replayed + skipped_duplicates + bad_lines + sum(not_replayed)`` and
``replayed == moved_to_clean + still_quarantined``.

Examples
--------
>>> tally = ReplayTally()
>>> tally.add_bad(BadEntry("decode_error", "not JSON"))
>>> report = tally.report()
>>> report["read"], report["bad_lines"], report["bad_line_reasons"]
(1, 1, {'decode_error': 1})
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from streamguard.quarantine.entry import BadEntry, QuarantineEntry

if TYPE_CHECKING:
    from streamguard.quarantine.replayer import Decision

__all__ = ["ReplayTally", "format_table"]


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


class ReplayTally:
    """The counts of one replay run; :meth:`report` is the ``report.json`` body."""

    def __init__(self) -> None:
        self.moved_to_clean = 0
        self.still_quarantined = 0
        self.skipped_duplicates = 0
        self.already_replayed = 0
        self.bad_lines = 0
        self._kept: Counter[str] = Counter()
        self._not_replayed: Counter[str] = Counter()
        self._bad: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._reasons_by_field: Counter[str] = Counter()
        self._moved_from: Counter[str] = Counter()
        self._streams: dict[str, Counter[str]] = {}

    @property
    def replayed(self) -> int:
        """Records decided in this run (moved or still quarantined)."""
        return self.moved_to_clean + self.still_quarantined

    @property
    def read(self) -> int:
        """Every record read, whatever became of it."""
        return (
            self.replayed
            + self.skipped_duplicates
            + self.bad_lines
            + sum(self._not_replayed.values())
        )

    def add(
        self, decision: Decision, entry: QuarantineEntry, *, already_replayed: bool = False
    ) -> None:
        """Count one decision about ``entry``."""
        if decision.kind == "skipped":
            self.skipped_duplicates += 1
            self.already_replayed += already_replayed
            return
        stream = self._streams.setdefault(decision.stream, Counter())
        if decision.kind == "moved":
            self.moved_to_clean += 1
            stream["moved_to_clean"] += 1
            self._moved_from.update(entry.codes or ("none",))
            return
        self.still_quarantined += 1
        stream["still_quarantined"] += 1
        if decision.kind == "kept":
            self._kept["duplicate" if "duplicate" in entry.codes else "truncated"] += 1
        self._reasons.update({r.code for r in decision.reasons})
        self._reasons_by_field.update(f"{r.code}:{r.field or '-'}" for r in decision.reasons)

    def add_bad(self, error: BadEntry) -> None:
        """Count a line or message that is not a quarantine record."""
        self.bad_lines += 1
        self._bad[error.code] += 1

    def add_not_replayed(self, why: str) -> None:
        """Count a record that is not this run's to replay."""
        self._not_replayed[why] += 1

    def report(self) -> dict[str, Any]:
        """The counts as a JSON-able dict (``report.json``).

        ``reasons`` counts still-quarantined records per reason code (today's reasons,
        or the original ones for ``kept_without_rerun``), ``reasons_by_field`` every
        ``code:field`` pair, ``moved_by_original_reason`` the codes the moved records
        were quarantined for.
        """
        return {
            "read": self.read,
            "replayed": self.replayed,
            "moved_to_clean": self.moved_to_clean,
            "still_quarantined": self.still_quarantined,
            "skipped_duplicates": self.skipped_duplicates,
            "already_replayed": self.already_replayed,
            "bad_lines": self.bad_lines,
            "bad_line_reasons": _sorted(self._bad),
            "not_replayed": _sorted(self._not_replayed),
            "kept_without_rerun": _sorted(self._kept),
            "reasons": _sorted(self._reasons),
            "reasons_by_field": _sorted(self._reasons_by_field),
            "moved_by_original_reason": _sorted(self._moved_from),
            "by_stream": {name: dict(counts) for name, counts in sorted(self._streams.items())},
        }


def format_table(report: dict[str, Any], title: str) -> str:
    """A human summary of a replay report.

    >>> print(format_table(ReplayTally().report(), "replay q.jsonl"))  # doctest: +ELLIPSIS
    replay q.jsonl
      read                        0
      moved_to_clean              0   -
    ...
    """
    read = report["read"]

    def share(count: int) -> str:
        return f"{100.0 * count / read:.1f}%" if read else "-"

    lines = [title, f"  {'read':<22} {read:>8,}"]
    for name in ("moved_to_clean", "still_quarantined", "skipped_duplicates", "bad_lines"):
        lines.append(f"  {name:<22} {report[name]:>8,}   {share(report[name])}")
    if report["already_replayed"]:
        lines.append(f"    {'(already replayed)':<20} {report['already_replayed']:>8,}")
    for why, count in report["not_replayed"].items():
        lines.append(f"  {'not replayed: ' + why:<22} {count:>8,}")
    if report["moved_by_original_reason"]:
        lines.append("  moved, by original reason:")
        lines += [f"    {k:<30} {v:>8,}" for k, v in report["moved_by_original_reason"].items()]
    if report["reasons_by_field"]:
        lines.append("  still quarantined (code:field):")
        lines += [f"    {k:<30} {v:>8,}" for k, v in list(report["reasons_by_field"].items())[:12]]
    if report["kept_without_rerun"]:
        kept = ", ".join(f"{k} {v:,}" for k, v in report["kept_without_rerun"].items())
        lines.append(f"  kept without re-run: {kept}")
    return "\n".join(lines)
