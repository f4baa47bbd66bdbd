"""Drift detection: schema drift and semantic drift per stream.

Pure logic, no Kafka, no metrics: :class:`DriftEngine` is a
:class:`~streamguard.pipeline.PipelineObserver`; :mod:`streamguard.wiring` builds it and
:mod:`streamguard.observability.drift` exports what it measures.
"""

from streamguard.drift.engine import DriftEngine
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector

__all__ = [
    "DriftEngine",
    "SchemaDriftDetector",
    "SemanticDriftDetector",
]
