"""Anomalous records: small online models, River-style, and the record scorer combining them.

Pure logic, no metrics, no threads: :mod:`~streamguard.anomaly.models` (numeric, keyed
price, text surprise), :mod:`~streamguard.anomaly.level` (a key's usual level and a lasting
change of it), :mod:`~streamguard.anomaly.centroid` (embedding novelty) and
:mod:`~streamguard.anomaly.record` (one score per record, what the drift engine stamps
into ``_dq.anomaly_score``).
"""

from streamguard.anomaly.centroid import CentroidNovelty
from streamguard.anomaly.level import LevelShift
from streamguard.anomaly.models import KeyedPrice, NumericAnomaly, RunningStats, TextSurprise
from streamguard.anomaly.record import RecordScore, RecordScorer

__all__ = [
    "CentroidNovelty",
    "KeyedPrice",
    "LevelShift",
    "NumericAnomaly",
    "RecordScore",
    "RecordScorer",
    "RunningStats",
    "TextSurprise",
]
