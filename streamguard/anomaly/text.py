"""Texts unlike a field's own: the character-bigram surprise model (:class:`TextSurprise`).

Per text field, a character-bigram model of the stream's own texts; a text's mean surprise,
against the field's usual, flags titles of random characters. One of the record scorer's
models (:mod:`streamguard.anomaly.record`), beside the numeric ones
(:mod:`streamguard.anomaly.models`).

Examples
--------
>>> text = TextSurprise()
>>> nouns = ["Kettle", "Toaster", "Blender", "Desk Chair", "Side Table"]
>>> for i in range(300):
...     text.learn_one(f"Casa {['Classic', 'Compact', 'Eco'][i % 3]} {nouns[i % 5]} S{i % 9}")
>>> text.score_one("Casa Compact Toaster Q3") < 0.2, text.score_one("xq#Zp!kw9Vj$3@") > 0.8
(True, True)
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

from streamguard.anomaly.level import RunningStats
from streamguard.anomaly.zscore import z_to_score

__all__ = ["TextSurprise"]


class TextSurprise:
    """Character-bigram surprise of a text against the field's own history.

    ``score_one`` is the z-score of the text's mean bigram surprise (bits) against the
    running mean and spread of the texts learned so far, mapped to [0, 1]. Only the
    first ``max_chars`` characters are read, and only every ``learn_every``-th text is
    learned (the per-character loops run in C; a title costs a few microseconds).
    """

    def __init__(
        self,
        *,
        max_chars: int = 32,
        min_count: int = 50,
        max_bigrams: int = 20_000,
        learn_every: int = 4,
        z_floor: float = 3.0,
        z_scale: float = 2.0,
    ) -> None:
        self.max_chars = max_chars
        self.min_count = min_count
        self.max_bigrams = max_bigrams
        self.learn_every = learn_every
        self.z_floor = z_floor
        self.z_scale = z_scale
        self._counts: Counter[str] = Counter()
        self._log_counts: dict[str, float] = {}  # log2(count), kept in step with _counts
        self._total = 0
        self._offered = 0
        self._stats = RunningStats()

    def _bigrams(self, text: str) -> list[str]:
        sample = f" {text[: self.max_chars].lower()} "
        return list(map(str.__add__, sample[:-1], sample[1:]))

    def _surprise(self, bigrams: list[str]) -> float:
        # An unseen bigram counts as half an observation (log2 0.5 = -1).
        known = sum(map(self._log_counts.get, bigrams, itertools.repeat(-1.0)))
        return math.log2(self._total + 1) - known / len(bigrams)

    def _score(self, surprise: float) -> float:
        if self._stats.n < self.min_count:
            return 0.0
        spread = max(self._stats.std, 0.6)  # bits: texts vary more than a template
        return z_to_score((surprise - self._stats.mean) / spread, self.z_floor, self.z_scale)

    def score_one(self, text: str) -> float:
        """Anomaly score in [0, 1] (0 until ``min_count`` texts were learned)."""
        return self._score(self._surprise(self._bigrams(text)))

    def learn_one(self, text: str) -> None:
        """Count the text's bigrams and its surprise."""
        bigrams = self._bigrams(text)
        self._learn(bigrams, self._surprise(bigrams))

    def score_and_learn(self, text: str, learn_below: float = 0.5) -> float:
        """Score, then learn the text (every ``learn_every``-th) unless it scored high."""
        bigrams = self._bigrams(text)
        surprise = self._surprise(bigrams)
        score = self._score(surprise)
        self._offered += 1
        if score < learn_below and self._offered % self.learn_every == 0:
            self._learn(bigrams, surprise)
        return score

    def _learn(self, bigrams: list[str], surprise: float) -> None:
        self._stats.update(surprise)
        counts = self._counts
        counts.update(bigrams)  # C loops: no per-character Python here
        logs = map(math.log2, map(counts.__getitem__, bigrams))
        self._log_counts.update(zip(bigrams, logs, strict=True))
        self._total += len(bigrams)
        if len(counts) > self.max_bigrams:  # keep the commonest half
            kept = dict(counts.most_common(self.max_bigrams // 2))
            self._counts = Counter(kept)
            self._log_counts = {b: math.log2(c) for b, c in kept.items()}
