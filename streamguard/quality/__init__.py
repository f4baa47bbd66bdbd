"""Online data-quality scores per stream: dimensions, a composite, drop findings, gauges.

See :mod:`streamguard.quality.scorer` for the model and its weights.
"""

from streamguard.quality.detector import Drop, DropDetector
from streamguard.quality.dimensions import (
    AnomalyRate,
    Completeness,
    Consistency,
    Timeliness,
    Uniqueness,
    Validity,
)
from streamguard.quality.metrics import QualityMetrics
from streamguard.quality.scorer import (
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    QualityScorer,
    QualitySnapshot,
)
from streamguard.quality.wiring import build_scorers

__all__ = [
    "DEFAULT_WEIGHTS",
    "DIMENSIONS",
    "AnomalyRate",
    "Completeness",
    "Consistency",
    "Drop",
    "DropDetector",
    "QualityMetrics",
    "QualityScorer",
    "QualitySnapshot",
    "Timeliness",
    "Uniqueness",
    "Validity",
    "build_scorers",
]
