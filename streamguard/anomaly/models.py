"""Anomalous records: a score in [0, 1] from numeric features and text, learned online.

Three small River-style models (``score_one`` then ``learn_one``), combined by ``max``:

* :class:`NumericAnomaly` — per group (behaviour: event type and currency; product:
  category and currency), robust online mean and spread of ``log1p`` of each numeric
  feature (price, quantity, stock). A value ``z`` spreads away scores
  ``1 - exp(-(z - z_floor) / z_scale)``: a price a thousand times its category's usual
  or a stock of a million scores near 1. Optionally River's ``HalfSpaceTrees`` on the
  same scaled features (``half_space_trees=True``; ~25 µs a record, so off by default).
* :class:`KeyedPrice` — each product's usual price (per currency) is remembered, and a
  price far from it scores high: behaviour events carry no category, and a product's
  price tripled is well inside its category's spread.
* :class:`~streamguard.anomaly.text.TextSurprise` — per text field, a character-bigram model
  of the stream's own texts; a text's mean surprise, against the field's usual, flags titles
  of random characters (:mod:`streamguard.anomaly.text`).
* embedding novelty — a text's embedding far from what the field has seen
  (:class:`~streamguard.anomaly.centroid.CentroidNovelty`); the record scorer combines all four.

Models learn only from records that did not score as anomalies, so a burst of absurd values
does not become normal; a level that holds does, after ``confirm`` records of the key or
group (:class:`~streamguard.anomaly.level.LevelShift`): a lasting change stands out on its
first records, not for good.

Examples
--------
>>> model = NumericAnomaly()
>>> for i in range(300):
...     _ = model.score_and_learn("toys", {"price": 20.0 + i % 7, "stock": 40 + i % 30})
>>> round(model.score_one("toys", {"price": 23.0, "stock": 50}), 2)
0.0
>>> model.score_one("toys", {"price": 23_000.0, "stock": 50}) > 0.9
True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from streamguard.anomaly.level import LevelShift, RunningStats
from streamguard.anomaly.text import TextSurprise
from streamguard.anomaly.zscore import z_to_score

# TextSurprise: re-exported for the record scorer's import (anomaly/record.py).
__all__ = ["KeyedPrice", "NumericAnomaly", "RunningStats", "TextSurprise"]


class NumericAnomaly:
    """Per-group robust z-scores of ``log1p`` numeric features (see the module docstring).

    Parameters
    ----------
    min_count
        Observations before a group's own statistics are used (the stream-wide ``"_all"`` before).
    min_std
        Floor on the spread of ``log1p`` values (0.15: ~16%): a fixed price flags no 1-cent change.
    half_space_trees
        Also score with River ``HalfSpaceTrees`` per group on the scaled features.
    upper_only
        Features scored on their high side only (a stock of 0 is not an anomaly).
    confirm
        Records of a group away from its level (scoring >= ~0.86) that confirm a new level
        (:class:`~streamguard.anomaly.level.LevelShift`): the group's statistics are
        replaced by those records', so a lasting change stops scoring high after
        ``confirm`` records, and a shorter burst of absurd values is never learned. A new
        group far from the stream-wide statistics gets its own the same way.
    """

    def __init__(
        self,
        *,
        min_count: int = 30,
        min_std: float = 0.15,
        z_floor: float = 3.0,
        z_scale: float = 1.5,
        learn_below: float = 0.5,
        max_groups: int = 2000,
        half_space_trees: bool = False,
        learn_every: int = 4,
        upper_only: frozenset[str] = frozenset({"stock", "quantity"}),
        seed: int = 0,
        confirm: int = 50,
    ) -> None:
        self.min_count = min_count
        self.confirm = confirm
        self.upper_only = upper_only
        self.learn_every = learn_every
        self.min_std = min_std
        self.z_floor = z_floor
        self.z_scale = z_scale
        self.learn_below = learn_below
        self.max_groups = max_groups
        self.half_space_trees = half_space_trees
        self.seed = seed
        self._stats: dict[tuple[str, str], RunningStats] = {}
        self._trees: dict[str, Any] = {}
        self._seen: dict[str, int] = {}
        #: Per group, per feature: the features currently away from their level.
        self._shifts: dict[str, dict[str, LevelShift]] = {}

    def _feature_stats(self, group: str, name: str) -> RunningStats | None:
        stats = self._stats.get((group, name))
        if stats is None or stats.n < self.min_count:
            stats = self._stats.get(("_all", name))
        return stats if stats is not None and stats.n >= self.min_count else None

    def _scaled(self, group: str, features: Mapping[str, float]) -> dict[str, float]:
        scaled: dict[str, float] = {}
        for name, value in features.items():
            stats = self._feature_stats(group, name)
            if stats is not None:
                spread = max(stats.std, self.min_std)
                z = (math.log1p(max(value, 0.0)) - stats.mean) / spread
                # an empty stock or a single item is ordinary: only their excess counts
                scaled[name] = max(z, 0.0) if name in self.upper_only else z
        return scaled

    def score_one(self, group: str, features: Mapping[str, float]) -> float:
        """Anomaly score in [0, 1] of one record's numeric features (0 while learning)."""
        return self._score(group, self._scaled(group, features))

    def _score(self, group: str, scaled: Mapping[str, float]) -> float:
        if not scaled:
            return 0.0
        score = z_to_score(max(map(abs, scaled.values())), self.z_floor, self.z_scale)
        if self.half_space_trees:
            tree = self._trees.get(group)
            if tree is not None:
                unit = {k: min(1.0, max(0.0, 0.5 + z / 12.0)) for k, z in scaled.items()}
                score = max(score, float(tree.score_one(unit)))
        return score

    def learn_one(self, group: str, features: Mapping[str, float]) -> None:
        """Update the group's and the stream-wide statistics."""
        if self.half_space_trees:
            scaled = self._scaled(group, features)
            if scaled:
                self._tree(group).learn_one(
                    {k: min(1.0, max(0.0, 0.5 + z / 12.0)) for k, z in scaled.items()}
                )
        for name, value in features.items():
            x = math.log1p(max(value, 0.0))
            for key in ((group, name), ("_all", name)):
                stats = self._stats.get(key)
                if stats is None:
                    if len(self._stats) >= self.max_groups:
                        continue
                    stats = self._stats[key] = RunningStats()
                stats.update(x)

    def score_and_learn(self, group: str, features: Mapping[str, float]) -> float:
        """Score, then learn from the record unless it looks anomalous.

        A group learns every record until it has ``min_count``, then every
        ``learn_every``-th (the statistics are as good; the hot path is cheaper). Every
        record, learned or not, counts towards a new level (``confirm``).
        """
        if self.half_space_trees:
            scaled = self._scaled(group, features)
            score = self._score(group, scaled)
        else:
            # self._scaled() and self._score() inline (per record): the same arithmetic
            scaled = {}
            stats_of, min_count, min_std = self._stats.get, self.min_count, self.min_std
            for name, value in features.items():
                stats = stats_of((group, name))
                if stats is None or stats.n < min_count:
                    stats = stats_of(("_all", name))
                    if stats is None or stats.n < min_count:
                        continue
                z = (math.log1p(max(value, 0.0)) - stats.mean) / max(stats.std, min_std)
                scaled[name] = max(z, 0.0) if name in self.upper_only else z
            score = 0.0
            if scaled:
                z = max(map(abs, scaled.values()))
                if z > self.z_floor:
                    score = 1.0 - math.exp(-(z - self.z_floor) / self.z_scale)
        if score > 0.0 or group in self._shifts:
            self._track(group, features, scaled)
        if score < self.learn_below:
            seen = self._seen.get(group, 0) + 1
            if len(self._seen) < self.max_groups or group in self._seen:
                self._seen[group] = seen
            if seen <= self.min_count or seen % self.learn_every == 0:
                self.learn_one(group, features)
        return score

    def _track(
        self, group: str, features: Mapping[str, float], scaled: Mapping[str, float]
    ) -> None:
        """Count the record towards a new level of each feature; adopt one once confirmed."""
        shifts = self._shifts.get(group)
        known = shifts is not None
        if shifts is None:
            shifts = {}
        for name, z in scaled.items():
            shift = shifts.get(name)
            if shift is None:
                if abs(z) <= self.z_floor or (not known and len(self._shifts) >= self.max_groups):
                    continue
                shift = shifts[name] = LevelShift(
                    self.confirm, z_floor=self.z_floor, z_cap=self.z_floor + 2 * self.z_scale
                )
            if shift.update(math.log1p(max(features[name], 0.0)), z):
                level = shift.level  # the new level: usable at once, even in a new group
                level.n = max(level.n, self.min_count)
                if (group, name) in self._stats or len(self._stats) < self.max_groups:
                    self._stats[group, name] = level
                del shifts[name]
            elif shift.cusum == 0.0:
                del shifts[name]
        if shifts:
            self._shifts[group] = shifts
        elif known:
            del self._shifts[group]

    def _tree(self, group: str) -> Any:
        tree = self._trees.get(group)
        if tree is None:
            from river.anomaly import HalfSpaceTrees

            tree = self._trees[group] = HalfSpaceTrees(
                n_trees=10, height=6, window_size=250, seed=self.seed
            )
        return tree


#: Prices a key remembers (exponential forgetting beyond): a product's price moves.
_KEY_HORIZON = 50


class KeyedPrice:
    """The usual price of each key (product and currency): a price far from it scores high.

    A bounded LRU of :class:`RunningStats` on ``log1p(price)``; a key needs ``min_count``
    prices before it scores (one is enough: the spread has a floor of ``min_std``). Price
    changes of a few percent score 0; a thousandfold, ~1. A lasting change (the price
    tripled and stays) scores high on its first ``confirm`` records of the key, then the
    key's usual price is the new one (:class:`~streamguard.anomaly.level.LevelShift`); a
    one-off outlier, or fewer than ``confirm`` in a row, is never learned.

    >>> prices = KeyedPrice()
    >>> for p in (10.0, 10.5, 9.9, 10.2):
    ...     _ = prices.score_and_learn(("p1", "USD"), p)
    >>> prices.score_and_learn(("p1", "USD"), 10.4), prices.score_and_learn(("p1", "USD"), 10_400.0)
    (0.0, 1.0)
    """

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        min_count: int = 1,
        min_std: float = 0.15,
        z_floor: float = 3.0,
        z_scale: float = 1.5,
        confirm: int = 10,
    ) -> None:
        self.max_keys = max_keys
        self.confirm = confirm
        self.min_count = min_count
        self.min_std = min_std
        self.z_floor = z_floor
        self.z_scale = z_scale
        self._stats: OrderedDict[Hashable, RunningStats] = OrderedDict()
        #: The keys currently away from their usual price (a subset of ``_stats``).
        self._shifts: dict[Hashable, LevelShift] = {}

    def score_and_learn(self, key: Hashable, price: float, learn_below: float = 0.5) -> float:
        """Score ``price`` against the key's usual, then learn it unless it scored high.

        Every price counts towards a new level of the key (``confirm``).
        """
        x = math.log1p(max(price, 0.0))
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = RunningStats(horizon=_KEY_HORIZON)
            if len(self._stats) > self.max_keys:
                self._shifts.pop(self._stats.popitem(last=False)[0], None)
        else:
            self._stats.move_to_end(key)
        score = z = 0.0
        if stats.n >= self.min_count:
            z = abs(x - stats.mean) / max(stats.std, self.min_std)
            if z > self.z_floor:  # round(z_to_score(z, ...), 6), inline: 0.0 per usual price
                score = round(1.0 - math.exp(-(z - self.z_floor) / self.z_scale), 6)
        shift = self._shifts.get(key) if self._shifts else None
        if shift is None and z > self.z_floor:
            shift = self._shifts[key] = LevelShift(
                self.confirm,
                z_floor=self.z_floor,
                z_cap=self.z_floor + 2 * self.z_scale,
                horizon=_KEY_HORIZON,
            )
        if shift is not None:
            if shift.update(x, z):  # a new usual price, this one included
                self._stats[key] = shift.level
                del self._shifts[key]
                return score
            if shift.cusum == 0.0:
                del self._shifts[key]
        if score < learn_below:
            stats.update(x)
        return score
