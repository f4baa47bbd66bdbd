"""Online data-quality scores per stream: dimensions, a composite, drop findings.

See :mod:`streamguard.quality.scorer` for the model and its weights. Pure logic: the
scores are exported by :mod:`streamguard.observability.quality`.
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
from streamguard.quality.scorer import (
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    QualityScorer,
    QualitySnapshot,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "DIMENSIONS",
    "AnomalyRate",
    "Completeness",
    "Consistency",
    "Drop",
    "DropDetector",
    "QualityScorer",
    "QualitySnapshot",
    "Timeliness",
    "Uniqueness",
    "Validity",
]
