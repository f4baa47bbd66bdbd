"""Anomalous records: small online models, River-style, and the record scorer combining them.

Pure logic, no metrics, no threads: :mod:`~streamguard.anomaly.models` (numeric, keyed
price), :mod:`~streamguard.anomaly.text` (text surprise), :mod:`~streamguard.anomaly.level`
(a key's usual level and a lasting change of it), :mod:`~streamguard.anomaly.zscore` (a
distance in spreads as a score), :mod:`~streamguard.anomaly.centroid` (embedding novelty) and
:mod:`~streamguard.anomaly.record` (one score per record, what the drift engine stamps
into ``_dq.anomaly_score``).
"""

from streamguard.anomaly.centroid import CentroidNovelty
from streamguard.anomaly.level import LevelShift, RunningStats
from streamguard.anomaly.models import KeyedPrice, NumericAnomaly
from streamguard.anomaly.record import RecordScore, RecordScorer
from streamguard.anomaly.text import TextSurprise

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
