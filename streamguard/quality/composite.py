"""The composite quality score: the dimensions' weights, the weighted mean over those
with data, and :class:`QualitySnapshot`, the scores of one stream at one moment.

>>> round(weighted_mean({"validity": 1.0, "anomaly": None, "timeliness": 0.5}, DEFAULT_WEIGHTS), 4)
0.8333
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_WEIGHTS", "DIMENSIONS", "QualitySnapshot", "weighted_mean"]

#: Composite weights (sum to 1), in the order reports list the dimensions.
DEFAULT_WEIGHTS: Final[Mapping[str, float]] = {
    "validity": 0.30,
    "completeness": 0.20,
    "timeliness": 0.15,
    "consistency": 0.15,
    "uniqueness": 0.10,
    "anomaly": 0.10,
}
#: Dimension names, in the order reports list them.
DIMENSIONS: Final = tuple(DEFAULT_WEIGHTS)


@dataclass(frozen=True, slots=True)
class QualitySnapshot:
    """The scores of one stream at one moment (what the metrics exporter reads)."""

    stream: str
    composite: float | None
    dimensions: dict[str, float | None]
    fields: dict[str, float]
    lag_seconds: float | None
    late_events: int
    future_events: int
    findings: int


def weighted_mean(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """The mean of the scores that are not None, weighted by ``weights`` (renormalised
    over those); None when every score is None."""
    got = total = 0.0
    for name, score in scores.items():
        if score is not None:
            weight = weights[name]
            got += weight * score
            total += weight
    return got / total if total else None
