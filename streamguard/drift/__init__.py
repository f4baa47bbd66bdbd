"""Drift detection: schema drift and semantic drift per stream.

Pure logic, no Kafka, no metrics, no threads of its own: :class:`DriftEngine` is a
:class:`~streamguard.pipeline.PipelineObserver` that routes records to the detectors
(anomaly scores from :mod:`streamguard.anomaly`, texts embedded through
:mod:`streamguard.embed.scheduler`) and collects their findings; :mod:`streamguard.wiring`
builds it and :mod:`streamguard.observability.drift` exports what it measures.
"""

from streamguard.drift.engine import DriftEngine
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector
from streamguard.drift.stats import EngineStats

__all__ = [
    "DriftEngine",
    "EngineStats",
    "SchemaDriftDetector",
    "SemanticDriftDetector",
]
