"""Pass/fail conditions over a check run's report: ``streamguard check --fail-on``.

A CI job gates on what a run found. Each condition is one short expression:

* ``quarantine>1%`` / ``corrected>=5%`` / ``valid<90%``: an outcome's share of records;
  without ``%`` a count (``quarantine>0``);
* ``reason=duplicate``: any quarantined record with that reason code;
* ``finding`` / ``finding=schema_drift``: any finding (of that kind);
* ``quality<0.9``: the composite quality score of the run.

Pure: :func:`parse_condition` reads an expression (``ValueError`` says what is wrong),
:meth:`Condition.failed` reads the ``report.json`` dict and names what failed.

Examples
--------
>>> report = {"total": 200, "outcomes": {"valid": 190, "corrected": 6, "quarantine": 4},
...           "reasons": {"duplicate": 4}, "findings": {"by_kind": {"anomaly": 1}},
...           "quality": {"composite": 0.97}}
>>> [parse_condition(c).failed(report) for c in ("quarantine>1%", "quarantine>5%")]
['quarantine is 2.00% of 200 records (> 1%)', None]
>>> parse_condition("finding=schema_drift").failed(report) is None
True
>>> parse_condition("finding").failed(report)
'1 finding (anomaly 1)'
>>> parse_condition("quality<0.99").failed(report)
'quality score 0.970 (< 0.99)'
>>> parse_condition("quarantine>>1")
Traceback (most recent call last):
...
ValueError: cannot read --fail-on 'quarantine>>1': ...
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OUTCOMES", "Condition", "parse_condition"]

OUTCOMES = ("valid", "corrected", "quarantine")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_SHARE = re.compile(r"^(valid|corrected|quarantine)(>=|<=|>|<)(\d+(?:\.\d+)?)(%?)$")
_QUALITY = re.compile(r"^quality(>=|<=|>|<)(0(?:\.\d+)?|1(?:\.0+)?)$")
_KIND = re.compile(r"^(finding|reason)(?:=([a-z_]+))?$")
_HELP = (
    "expected e.g. quarantine>1%, corrected>=100, quality<0.9, finding, "
    "finding=schema_drift or reason=duplicate"
)


@dataclass(frozen=True)
class Condition:
    """One ``--fail-on`` condition; :meth:`failed` says why it holds, or None."""

    text: str
    check: Callable[[Mapping[str, Any]], str | None]

    def failed(self, report: Mapping[str, Any]) -> str | None:
        """Why ``report`` fails this condition, or None when it passes."""
        return self.check(report)


def parse_condition(text: str) -> Condition:
    """Read one ``--fail-on`` expression (spaces ignored)."""
    expression = text.replace(" ", "")
    if match := _SHARE.match(expression):
        return Condition(text, _share_check(*match.groups()))
    if match := _QUALITY.match(expression):
        return Condition(text, _quality_check(match[1], float(match[2])))
    if match := _KIND.match(expression):
        what, name = match[1], match[2]
        if what == "reason" and name is None:
            raise ValueError(f"cannot read --fail-on {text!r}: reason needs a code ({_HELP})")
        return Condition(text, _finding_check(name) if what == "finding" else _reason_check(name))
    raise ValueError(f"cannot read --fail-on {text!r}: {_HELP}")


def _share_check(
    outcome: str, op: str, number: str, percent: str
) -> Callable[[Mapping[str, Any]], str | None]:
    compare, limit = _OPERATORS[op], float(number)

    def check(report: Mapping[str, Any]) -> str | None:
        total = int(report.get("total") or 0)
        count = int((report.get("outcomes") or {}).get(outcome, 0))
        if percent:
            share = 100.0 * count / total if total else 0.0
            if compare(share, limit):
                return f"{outcome} is {share:.2f}% of {total:,} records ({op} {number}%)"
        elif compare(count, limit):
            return f"{outcome} is {count:,} records ({op} {number})"
        return None

    return check


def _quality_check(op: str, limit: float) -> Callable[[Mapping[str, Any]], str | None]:
    compare = _OPERATORS[op]

    def check(report: Mapping[str, Any]) -> str | None:
        composite = (report.get("quality") or {}).get("composite")
        if composite is None:
            return None  # nothing scored (an empty file): no evidence of a low score
        if compare(float(composite), limit):
            return f"quality score {composite:.3f} ({op} {limit:g})"
        return None

    return check


def _finding_check(kind: str | None) -> Callable[[Mapping[str, Any]], str | None]:
    def check(report: Mapping[str, Any]) -> str | None:
        by_kind: Mapping[str, int] = (report.get("findings") or {}).get("by_kind") or {}
        counts = {k: n for k, n in by_kind.items() if n and (kind is None or k == kind)}
        total = sum(counts.values())
        if not total:
            return None
        detail = ", ".join(f"{k} {n:,}" for k, n in sorted(counts.items()))
        return f"{total:,} finding{'s' if total > 1 else ''} ({detail})"

    return check


def _reason_check(code: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(report: Mapping[str, Any]) -> str | None:
        count = int((report.get("reasons") or {}).get(code, 0))
        return f"{count:,} records quarantined as {code}" if count else None

    return check
