"""What semantic drift reports: each block's statistics, the null bound its threshold
starts from, and its findings (a drift, and the re-baseline that accepts one).

Examples
--------
>>> from streamguard.events.records import SourcePosition
>>> stats = BlockStats(0.9, 0.3, 0.2, 12, 9, fired=False, drifted=True)
>>> f = rebaseline_finding("product", "category", stats, blocks=20, since=0.0,
...                        recent=["Zentek phone 1"], position=SourcePosition("t", 0, 9),
...                        detected_at=3600.0)
>>> f.severity, f.details["rebaselined"], f.details["since"]
('info', True, '1970-01-01T00:00:00.000Z')
>>> f.summary[-54:]
'persisted for 20 blocks; accepted as the new reference'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from streamguard.drift.reservoir import Reservoir
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition, format_ts

__all__ = ["BlockStats", "binomial_upper", "drift_finding", "rebaseline_finding"]


def binomial_upper(n: int, p: float, alpha: float = 1e-4) -> int:
    """Smallest k with P(Binomial(n, p) > k) <= alpha: the null's upper bound.

    >>> binomial_upper(100, 0.01), binomial_upper(100, 0.5)
    (6, 68)
    """
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1.0 - p) ** (n - k)
        if cdf >= 1.0 - alpha:
            return k
    return n


@dataclass(frozen=True, slots=True)
class BlockStats:
    """What one scored block looked like (kept for metrics and tests); ``drifted``: it
    was beyond the threshold (it fired, or an open episode goes on)."""

    statistic: float
    threshold: float
    radius: float
    distinct: int
    novel_distinct: int
    fired: bool
    drifted: bool = False


def drift_finding(
    stream: str,
    field: str,
    stats: BlockStats,
    *,
    statistic_name: str,
    recent: int,
    reference: Reservoir,
    outside: list[str],
    novelty: Mapping[str, float],
    position: SourcePosition,
    detected_at: float,
) -> Finding:
    """The finding of a block that left the reference's support."""
    share, threshold = stats.statistic, stats.threshold
    return Finding(
        kind="semantic_drift",
        stream=stream,
        field=field,
        severity="critical" if share >= 0.8 else "warning",
        statistic=share,
        threshold=threshold,
        window={
            "reference": min(reference.values, reference.size),
            "recent": recent,
            "reference_distinct": len(reference),
        },
        examples=[f"before: {t}" for t in reference.texts[-3:]]
        + [f"after: {t}" for t in outside[:3]],
        position=position,
        detected_at=detected_at,
        summary=(
            f"{stream}.{field}: {share:.0%} of the last {recent} values lie "
            f"outside the reference's support (threshold {threshold:.0%})"
        ),
        details={
            "statistic_name": statistic_name,
            "support_radius": round(stats.radius, 4),
            "novel_distinct": len(outside),
            "block_distinct": stats.distinct,
            "mean_novelty": round(math.fsum(novelty[t] for t in outside) / max(1, len(outside)), 4),
        },
    )


def rebaseline_finding(
    stream: str,
    field: str,
    stats: BlockStats,
    *,
    blocks: int,
    since: float,
    recent: list[str],
    position: SourcePosition,
    detected_at: float,
) -> Finding:
    """The ``info`` finding that says a persisting drift became the new reference."""
    began = format_ts(datetime.fromtimestamp(since, tz=UTC))
    return Finding(
        kind="semantic_drift",
        stream=stream,
        field=field,
        severity="info",
        statistic=stats.statistic,
        threshold=stats.threshold,
        window={"blocks": blocks},
        examples=[f"after: {t}" for t in recent[:3]],
        position=position,
        detected_at=detected_at,
        summary=(
            f"{stream}.{field}: a drift seen since {began} persisted for {blocks} blocks; "
            "accepted as the new reference"
        ),
        details={"rebaselined": True, "since": began, "blocks": blocks},
    )
