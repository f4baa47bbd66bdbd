"""Embedding novelty: how far a text's embedding lies from the field's usual direction.

:class:`CentroidNovelty` keeps the running mean direction of one text field's embeddings
and the usual cosine to it. Each text is scored when its vector arrives (a whole batch in
one matrix product, in the embedding thread) and the score kept in :attr:`scores`, so the
pipeline reads a text's score with a dict lookup (:meth:`score_one`) instead of a dot
product per record: a text's score is the one of its latest embedding, against the
centroid of that moment.

Examples
--------
>>> import numpy as np
>>> from streamguard.embed.hashing import HashingEmbedder
>>> embed = HashingEmbedder(dim=256).embed
>>> usual = ["red running shoes", "blue running shoes", "running shoes sale"]
>>> novelty = CentroidNovelty(dim=256)
>>> for _ in range(50):
...     novelty.learn_many(usual, embed(usual))
>>> novelty.learn_many(["shoe rung"], embed(["shoe rung"]))
>>> novelty.score_one("red running shoes"), novelty.score_one("shoe rung") > 0.9
(0.0, True)
>>> novelty.score_one("never embedded")
0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from streamguard.anomaly.level import RunningStats
from streamguard.anomaly.zscore import z_to_scores

__all__ = ["CENTROID_Z_FLOOR", "CentroidNovelty"]

Vectors = npt.NDArray[np.float32]
#: Spreads below the usual cosine before a text starts to score as an anomaly.
CENTROID_Z_FLOOR = 4.0
#: Texts embedded before any text scores (too few to say what is usual).
_WARMUP = 100


class CentroidNovelty:
    """Running mean direction of a field's embeddings and the usual cosine to it.

    Parameters
    ----------
    dim
        Length of the vectors.
    max_texts
        Scored texts remembered; beyond it the table starts afresh (texts still in use
        come back soon).
    """

    __slots__ = ("dim", "direction", "max_texts", "mean", "scores", "spread", "stats", "usual")

    def __init__(self, dim: int, max_texts: int = 100_000) -> None:
        self.dim = dim
        self.max_texts = max_texts
        self.mean = np.zeros(dim, np.float32)
        self.direction = self.mean
        self.stats = RunningStats(horizon=5000)
        self.usual = 0.0
        self.spread = 1.0
        #: text -> anomaly score (0 for a usual text, towards 1 for one far from the rest).
        self.scores: dict[str, float] = {}

    def learn_many(self, texts: Sequence[str], vectors: Vectors) -> None:
        """Move the centroid towards ``vectors`` and (re)score their ``texts``."""
        weight = min(1.0, len(vectors) / max(self.stats.n, 1))
        self.mean = (1.0 - weight) * self.mean + weight * vectors.mean(axis=0)
        direction = self.mean / max(float(np.linalg.norm(self.mean)), 1e-9)
        cosines = (vectors @ direction).astype(np.float64)
        for cosine in cosines.tolist():
            self.stats.update(cosine)
        # Swapped in as whole values: the pipeline thread reads them without a lock.
        self.usual, self.spread = self.stats.mean, max(self.stats.std, 0.05)
        self.direction = direction
        if self.stats.n < _WARMUP:
            return  # too few texts to say what is usual: nothing scores yet
        scores = self.scores
        if len(scores) + len(texts) > self.max_texts:
            # Start afresh rather than track recency: texts still in use come back soon.
            scores = self.scores = {}
        scores.update(zip(texts, self.score_cosines(cosines).tolist(), strict=True))

    def score_one(self, text: str) -> float:
        """The text's score when it was last embedded (0 if it never was, or in warm-up)."""
        return self.scores.get(text, 0.0)

    def score_cosines(self, cosines: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """:func:`~streamguard.anomaly.zscore.z_to_score` of each cosine's distance below
        the usual cosine, in spreads: the score of each text whose cosine it is."""
        return z_to_scores((self.usual - cosines) / self.spread, CENTROID_Z_FLOOR, 3.0)
