"""The incrementally refreshed recommender fed by clean behaviour events (no Kafka here).

* :class:`CooccurrenceRecommender` — the model: ``learn_one(event)``,
  ``recommend(user_id, k)``, ``update_product(record)`` / ``remove_product(id)``;
  :func:`snapshot` / :func:`restore` save and load it.
* :class:`SequenceRecommender` — the sequence-aware model (recency-weighted profile,
  item-to-next-item transitions, optional product meaning); the process starts it when
  it has no snapshot (``STREAMGUARD_RECOMMENDER_ALGORITHM=auto``, the default, keeps
  the algorithm of a snapshot it restores; :mod:`.models`).
* :class:`RefreshPolicy` — which users to publish, at most once per interval each.
* :class:`RecommenderService` — both, plus records and metrics, as the worker uses them.
* :mod:`.evaluate` — prequential HR@K / NDCG@K (``streamguard eval-recommender``).
"""

from streamguard.recommender.model import ALGORITHM, CooccurrenceRecommender
from streamguard.recommender.models import ALGORITHMS, RecommenderModel, new_model
from streamguard.recommender.params import DEFAULT_EVENT_WEIGHTS, RecommenderConfig
from streamguard.recommender.popularity import PopularityRanking
from streamguard.recommender.recommendation import recommendation_record
from streamguard.recommender.refresh import RefreshPolicy
from streamguard.recommender.sequence import SequenceConfig, SequenceRecommender
from streamguard.recommender.service import RecommenderService
from streamguard.recommender.snapshot import (
    SnapshotError,
    read_snapshot,
    restore,
    snapshot,
    write_atomic,
    write_snapshot,
)
from streamguard.recommender.trending import Trending

__all__ = [
    "ALGORITHM",
    "ALGORITHMS",
    "DEFAULT_EVENT_WEIGHTS",
    "CooccurrenceRecommender",
    "PopularityRanking",
    "RecommenderConfig",
    "RecommenderModel",
    "RecommenderService",
    "RefreshPolicy",
    "SequenceConfig",
    "SequenceRecommender",
    "SnapshotError",
    "Trending",
    "new_model",
    "read_snapshot",
    "recommendation_record",
    "restore",
    "snapshot",
    "write_atomic",
    "write_snapshot",
]
