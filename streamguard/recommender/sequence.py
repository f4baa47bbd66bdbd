"""Sequence-aware item-to-item recommender: the user's last few items vote at query time.

An opt-in alternative to :class:`~streamguard.recommender.model.CooccurrenceRecommender`
(``eval-recommender --model item-seq-v1``), better on MovieLens but not yet wired into the
recommender process or its snapshots.

How it works
------------
* **Ordered co-occurrence.** When a user interacts with item ``i``, ``i`` is paired with
  the user's last ``window`` items: the earlier item's row gets ``i`` (weight 1, "came
  next"), ``i``'s row gets the earlier item (``backward_weight``), each step further
  back counting ``window_decay`` less. Counts decay with event time
  (``pair_half_life_s``); each row keeps its ``max_neighbours`` strongest entries.
* **Recency at query time.** Learning keeps no per-user scores (cheaper than the
  co-occurrence model's profile update). A query adds the rows of the user's last
  ``depth`` items, each normalised and smoothed towards popularity like the other
  model's, ``(n_ic + a * p_c) / (n_i + a)``, the last item at weight 1 and each step
  back ``depth_decay`` less: only the last ``depth`` items count, which caps its cost.
* **Exclusions.** Items the user interacted with (the last ``max_history``), products
  marked unavailable, and the request's ``exclude`` are never recommended.
* **Cold users** (and short lists) get the most popular items *lately*: interaction
  counts with a ``popularity_half_life_s`` half-life in event time
  (:class:`~.trending.Trending`), then all-time counts past its top list.

Examples
--------
>>> model = SequenceRecommender()
>>> for user, item in [("ann", "tent"), ("ann", "stove"), ("bob", "tent")]:
...     _ = model.learn_one({"user_id": user, "product_id": item, "event_type": "view"})
>>> [item for item, _ in model.recommend("bob", 1)]
['stove']
>>> model.recommend("bob", 1, exclude={"stove"})
[]
>>> [item for item, _ in model.recommend("newcomer", 2)]
['tent', 'stove']
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from streamguard.recommender._events import interaction
from streamguard.recommender.availability import CatalogueAvailability
from streamguard.recommender.popularity import PopularityRanking
from streamguard.recommender.trending import Trending
from streamguard.recommender.user import UserState

__all__ = ["SEQUENCE_ALGORITHM", "SequenceConfig", "SequenceRecommender"]

SEQUENCE_ALGORITHM = "item-seq-v1"
_LN2 = math.log(2.0)
_RESCALE_ABOVE = 1e12
_ROW_SLACK = 1.5
# Popular items a query looks at for ones that enter through the prior alone, per k.
_WALK_DEPTH = 3
# Candidates blended with popularity per query, per k (the strongest by co-occurrence).
_BLEND_DEPTH = 3


@dataclass(frozen=True)
class SequenceConfig:
    """Knobs of :class:`SequenceRecommender` (defaults tuned on ml-latest-small).

    >>> SequenceConfig(depth=0)
    Traceback (most recent call last):
    ...
    ValueError: depth must be >= 1
    """

    #: A new interaction pairs with the user's last ``window`` items...
    window: int = 10
    #: ...each step further back counting this much less.
    window_decay: float = 0.85
    #: Pair weight from the new item back to the earlier one (forward is 1).
    backward_weight: float = 0.5
    #: A query adds the rows of the user's last ``depth`` items...
    depth: int = 8
    #: ...each step back counting this much less.
    depth_decay: float = 0.8
    #: Time half-life of co-occurrence counts (event time; inf for none).
    pair_half_life_s: float = 730 * 86_400.0
    #: Pseudo-count pulling each row towards global popularity (0: off).
    popularity_prior: float = 10.0
    #: Half-life (event time) of the popularity cold users get (inf: all-time counts).
    popularity_half_life_s: float = 30 * 86_400.0
    max_neighbours: int = 60
    max_history: int = 1000
    max_users: int = 100_000
    max_items: int = 100_000
    max_unavailable: int = 100_000

    def __post_init__(self) -> None:
        for name in ("window", "depth", "max_neighbours", "max_history", "max_users"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("max_items", "max_unavailable"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("window_decay", "depth_decay"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        for name in ("pair_half_life_s", "popularity_half_life_s"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0 (inf for no decay)")
        for name in ("backward_weight", "popularity_prior"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0")


class SequenceRecommender(CatalogueAvailability):
    """Online top-K recommender: ``learn_one(event)``, ``recommend(user_id, k)``."""

    def __init__(self, config: SequenceConfig | None = None) -> None:
        self.config = config or SequenceConfig()
        c = self.config
        self._pair_rate = _LN2 / c.pair_half_life_s
        self._rows: dict[str, dict[str, float]] = {}  # LRU order: least recent first
        self._row_sums: dict[str, float] = {}
        self._users: dict[str, UserState] = {}  # LRU order: least recent first
        self._unavailable: dict[str, None] = {}
        self._popularity = PopularityRanking(c.max_items)
        self._trending: Trending | None = None
        if not math.isinf(c.popularity_half_life_s):
            self._trending = Trending(c.popularity_half_life_s, max_items=c.max_items)
        self._depth_weights = [c.depth_decay**step for step in range(c.depth)]
        self._clock: float | None = None
        self._pair_ref = 0.0  # event time at which stored pair weights have scale 1
        self._learned = 0

    # ------------------------------------------------------------------ learning
    def learn_one(self, event: Mapping[str, Any]) -> bool:
        """Learn from one clean behaviour record; False when it has no user or product."""
        seen = interaction(event)
        if seen is None:
            return False
        user_id, item, _, ts = seen
        c = self.config
        if ts is not None and (self._clock is None or ts > self._clock):
            self._clock = ts
        weight = self._pair_scale()

        user = self._users.pop(user_id, None)
        if user is None:
            user = UserState(max(c.window, c.depth))
            if len(self._users) >= c.max_users:
                del self._users[next(iter(self._users))]
        self._users[user_id] = user

        rows, sums = self._rows, self._row_sums
        row = rows.pop(item, None)
        if row is None:
            row = {}
            if len(rows) >= c.max_items:
                forgotten = next(iter(rows))
                del rows[forgotten], sums[forgotten]
            sums[item] = 0.0
        rows[item] = row

        longest = _ROW_SLACK * c.max_neighbours
        backward, decay = c.backward_weight, c.window_decay
        added = 0.0
        recent = user.recent
        for step, earlier in enumerate(reversed(recent)):
            if step >= c.window:
                break
            if earlier != item:
                back = weight * backward
                row[earlier] = row.get(earlier, 0.0) + back
                added += back
                earlier_row = rows.get(earlier)
                if earlier_row is not None:  # None: forgotten under max_items
                    earlier_row[item] = earlier_row.get(item, 0.0) + weight
                    sums[earlier] += weight
                    if len(earlier_row) > longest:
                        self._prune_row(earlier, earlier_row)
            weight *= decay
        sums[item] += added
        if len(row) > longest:
            self._prune_row(item, row)
        if item in recent:
            recent.remove(item)
        recent.append(item)
        history = user.seen
        history.pop(item, None)
        history[item] = None
        if len(history) > c.max_history:
            del history[next(iter(history))]
        self._popularity.add(item)
        if self._trending is not None:
            self._trending.add(item, ts)
        self._learned += 1
        return True

    def _pair_scale(self) -> float:
        if self._clock is None or self._pair_rate == 0.0:
            return 1.0
        exponent = self._pair_rate * (self._clock - self._pair_ref)
        if exponent > math.log(_RESCALE_ABOVE):
            factor = math.exp(-min(exponent, 700.0))
            for row in self._rows.values():
                for other in row:
                    row[other] *= factor
            for key in self._row_sums:
                self._row_sums[key] *= factor
            self._pair_ref = self._clock
            exponent = 0.0
        return math.exp(exponent)

    def _prune_row(self, item: str, row: dict[str, float]) -> None:
        for weakest in sorted(row, key=row.__getitem__)[: len(row) - self.config.max_neighbours]:
            del row[weakest]
        self._row_sums[item] = sum(row.values())

    # ------------------------------------------------------------------ catalogue
    @property
    def _max_unavailable(self) -> int:
        return self.config.max_unavailable

    # ------------------------------------------------------------------ answering
    def recommend(
        self, user_id: str, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """Top-``k`` ``(product_id, score)`` for ``user_id``, best first.

        ``exclude``: items this request must not return (say, what the user bought), on
        top of what the user interacted with and unavailable products.
        """
        if k <= 0:
            return []
        user = self._users.get(user_id)
        if user is None or not user.recent:
            return self._popular({}, k, exclude)
        seen, unavailable = user.seen, self._unavailable
        rows, sums = self._rows, self._row_sums
        prior = self.config.popularity_prior * self._pair_scale()
        scores: dict[str, float] = {}
        get = scores.get
        prior_weight = 0.0
        for weight, item in zip(self._depth_weights, reversed(user.recent), strict=False):
            row = rows.get(item)
            if row is None:
                continue
            total = sums[item] + prior
            if total <= 0.0:
                continue
            factor = weight / total
            prior_weight += factor * prior
            # A comprehension then one update() is ~30% faster than item assignments.
            scores.update({c: get(c, 0.0) + factor * value for c, value in row.items()})
        popularity = self._popularity
        share = prior_weight / max(popularity.total, 1)
        count = popularity.counts.get
        # Only the strongest co-occurrence candidates are blended with popularity.
        strongest = heapq.nlargest(_BLEND_DEPTH * k, scores, key=scores.__getitem__)
        blended = {
            c: scores[c] + share * count(c, 0)
            for c in strongest
            if c not in seen and c not in unavailable and c not in exclude
        }
        # The most popular items may enter through the prior alone: their prior term
        # falls along the popularity order, so the walk stops at the first that cannot
        # (or after _WALK_DEPTH * k items: a heavy user has seen most popular ones).
        floor = heapq.nlargest(k, blended.values())[-1] if len(blended) >= k else -1.0
        for item in itertools.islice(popularity, _WALK_DEPTH * k):
            boost = share * count(item, 0)
            if boost <= floor:
                break
            if item not in blended and item not in seen and item not in unavailable:
                if item not in exclude:
                    blended[item] = boost
        top = heapq.nlargest(k, blended, key=blended.__getitem__)
        out = [(item, blended[item]) for item in top]
        if len(out) < k:
            out += self._popular({**seen, **blended}, k - len(out), exclude)
        return out

    def _popular(
        self, skip: Mapping[str, object], n: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        """The ``n`` most popular items lately (then of all time) not in ``skip``,
        ``exclude`` or unavailable; scores are their shares of interactions."""
        out: list[tuple[str, float]] = []
        taken: set[str] = set()
        unavailable = self._unavailable
        trending = self._trending
        if trending is not None:
            for item in trending.top():
                if item not in skip and item not in unavailable and item not in exclude:
                    out.append((item, trending.share(item)))
                    taken.add(item)
                    if len(out) == n:
                        return out
        popularity = self._popularity
        total = float(max(popularity.total, 1))
        for item in popularity:
            if item in skip or item in taken or item in unavailable or item in exclude:
                continue
            out.append((item, popularity.count(item) / total))
            if len(out) == n:
                break
        return out

    # ------------------------------------------------------------------ introspection
    @property
    def version(self) -> str:
        """``<algorithm>@<events learned>``: names the state a list came from."""
        return f"{SEQUENCE_ALGORITHM}@{self._learned}"

    @property
    def events_learned(self) -> int:
        """Events learned since the model was created."""
        return self._learned

    def size(self) -> dict[str, int]:
        """Entries held, by structure (for the model-size gauges)."""
        return {
            "users": len(self._users),
            "items": len(self._rows),
            "neighbours": sum(len(row) for row in self._rows.values()),
            "history": sum(len(user.seen) for user in self._users.values()),
            "unavailable": len(self._unavailable),
        }

    def seen_by(self, user_id: str) -> list[str]:
        """The items ``user_id`` interacted with that are remembered, oldest first."""
        user = self._users.get(user_id)
        return list(user.seen) if user is not None else []
