"""Drift and anomaly detection: embeddings, schema drift, semantic drift, anomalous records.

Pure logic, no Kafka: :class:`DriftEngine` is a
:class:`~streamguard.pipeline.PipelineObserver`; the worker and ``check`` wire it in.
"""

from streamguard.drift.anomaly import NumericAnomaly, TextSurprise
from streamguard.drift.batcher import MicroBatcher
from streamguard.drift.cache import EmbeddingCache
from streamguard.drift.embedder import Embedder, HashingEmbedder, TransformerEmbedder
from streamguard.drift.engine import DriftEngine
from streamguard.drift.findings import Finding
from streamguard.drift.metrics import DriftMetrics
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector
from streamguard.drift.wiring import EngineGroup, build_embedder, build_engines

__all__ = [
    "DriftEngine",
    "DriftMetrics",
    "Embedder",
    "EmbeddingCache",
    "EngineGroup",
    "Finding",
    "HashingEmbedder",
    "MicroBatcher",
    "NumericAnomaly",
    "SchemaDriftDetector",
    "SemanticDriftDetector",
    "TextSurprise",
    "TransformerEmbedder",
    "build_embedder",
    "build_engines",
]
