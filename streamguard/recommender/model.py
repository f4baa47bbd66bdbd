"""Item-to-item co-occurrence with decay, learned one behaviour event at a time.

How it works
------------
* **Co-occurrence.** When a user interacts with item ``i``, ``i`` is paired with the
  user's last ``window`` items: the earlier item's row gets ``i`` (weight 1, "came
  next"), ``i``'s row gets the earlier item (``backward_weight``), each step further
  back counting ``window_decay`` less. Counts decay with event time (``pair_half_life_s``)
  and each row keeps its ``max_neighbours`` strongest entries (it may grow to 1.5 times
  that between cuts).
* **User profile.** Each user keeps candidate scores: on every interaction the item's
  row, normalised to sum 1 and multiplied by the event type's weight, is added to them;
  older contributions fade by ``user_decay`` per interaction and by
  ``user_half_life_s`` in event time. Computing this when learning (not when asked)
  keeps :meth:`recommend` a sort of at most ``2 * max_candidates`` scores.
* **Exclusions.** Items the user interacted with (the last ``max_history``), products
  the catalogue marked unavailable, and what a request passes in ``exclude`` (say,
  everything the user ever bought) are never recommended.
* **Popularity prior.** Each row is smoothed towards global popularity with
  ``popularity_prior`` pseudo-counts, ``(n_ic + a * p_c) / (n_i + a)``: an item seen
  with few others mostly votes for popular items, a well-known one for its neighbours.
  A query blends the strongest ``3k`` candidates with the most popular items so far.
* **Fallback.** Cold users get the most popular items so far (score: their share of
  all interactions); so do short lists when the prior is off.

Memory is bounded by ``max_users``, ``max_items`` (least recently active forgotten
first), ``max_neighbours``, ``max_candidates``, ``max_history`` and ``max_unavailable``.

Examples
--------
>>> model = CooccurrenceRecommender()
>>> for user, item in [("ann", "tent"), ("ann", "stove"), ("bob", "tent")]:
...     _ = model.learn_one({"user_id": user, "product_id": item, "event_type": "view"})
>>> [item for item, _ in model.recommend("bob", 1)]
['stove']
>>> model.remove_product("stove")
>>> [item for item, _ in model.recommend("bob", 1)]
[]
>>> [item for item, _ in model.recommend("newcomer", 2)]
['tent']
>>> model.recommend("newcomer", 2, exclude={"tent"})
[]
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from streamguard.recommender._events import interaction
from streamguard.recommender.availability import CatalogueAvailability
from streamguard.recommender.params import RecommenderConfig
from streamguard.recommender.popularity import PopularityRanking
from streamguard.recommender.user import UserState

__all__ = ["ALGORITHM", "CooccurrenceRecommender"]

ALGORITHM = "item-cooc-v1"
_LN2 = math.log(2.0)
# Scales grow with time; renormalise well before floats lose precision or overflow.
_RESCALE_ABOVE = 1e12
_MAX_EXPONENT = 60.0
# Rows and candidate lists may outgrow their cap by this factor before being cut back
# to it: one sort per many updates instead of one per update.
_ROW_SLACK = 1.5
_CANDIDATE_SLACK = 2.0
# Only the 3k strongest co-occurrence candidates are blended with popularity per query.
_BLEND_DEPTH = 3


class CooccurrenceRecommender(CatalogueAvailability):
    """Online top-K recommender: ``learn_one(event)``, ``recommend(user_id, k)``."""

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        c = self.config
        self._weights = dict(c.event_weights)
        self._pair_rate = _LN2 / c.pair_half_life_s
        self._user_rate = _LN2 / c.user_half_life_s
        self._log_user_decay = -math.log(c.user_decay)
        self._rows: dict[str, dict[str, float]] = {}  # LRU order: least recent first
        self._row_sums: dict[str, float] = {}
        self._users: dict[str, UserState] = {}  # LRU order: least recent first
        self._unavailable: dict[str, None] = {}
        self._popularity = PopularityRanking(c.max_items)
        self._clock: float | None = None  # latest event time seen (seconds)
        self._pair_ref = 0.0  # event time at which stored pair weights have scale 1
        self._learned = 0

    # ------------------------------------------------------------------ learning
    def learn_one(self, event: Mapping[str, Any]) -> bool:
        """Learn from one clean behaviour record; False when it has no user or product."""
        seen = interaction(event)
        if seen is None:
            return False
        user_id, item, event_type, ts = seen
        c = self.config
        if ts is not None and (self._clock is None or ts > self._clock):
            self._clock = ts
        pair_weight = self._pair_scale()

        user = self._users.pop(user_id, None)
        if user is None:
            user = UserState(c.window)
            if len(self._users) >= c.max_users:
                del self._users[next(iter(self._users))]
        self._users[user_id] = user

        row = self._rows.pop(item, None)
        if row is None:
            row = {}
            if len(self._rows) >= c.max_items:
                forgotten = next(iter(self._rows))
                del self._rows[forgotten], self._row_sums[forgotten]
            self._row_sums[item] = 0.0
        self._rows[item] = row

        # Profile first: the item's row as others made it, before this user's own pairs.
        self._update_profile(user, item, row, event_type, ts, pair_weight)
        self._pair_with_recent(user, item, row, pair_weight)
        self._popularity.add(item)
        self._learned += 1
        return True

    def _pair_scale(self) -> float:
        if self._clock is None or self._pair_rate == 0.0:
            return 1.0
        exponent = self._pair_rate * (self._clock - self._pair_ref)
        if exponent > math.log(_RESCALE_ABOVE):
            # Rare (every ~40 half-lives): bring every stored weight back to scale 1.
            factor = math.exp(-min(exponent, 700.0))
            for row in self._rows.values():
                for other in row:
                    row[other] *= factor
            for key in self._row_sums:
                self._row_sums[key] *= factor
            self._pair_ref = self._clock
            exponent = 0.0
        return math.exp(exponent)

    def _pair_with_recent(
        self, user: UserState, item: str, row: dict[str, float], weight: float
    ) -> None:
        c = self.config
        rows, sums = self._rows, self._row_sums
        added = 0.0
        for earlier in reversed(user.recent):
            if earlier != item:
                back = weight * c.backward_weight
                row[earlier] = row.get(earlier, 0.0) + back
                added += back
                earlier_row = rows.get(earlier)
                if earlier_row is not None:  # None: forgotten under max_items
                    earlier_row[item] = earlier_row.get(item, 0.0) + weight
                    sums[earlier] += weight
                    if len(earlier_row) > _ROW_SLACK * c.max_neighbours:
                        self._prune_row(earlier, earlier_row)
            weight *= c.window_decay
        sums[item] += added
        if len(row) > _ROW_SLACK * c.max_neighbours:
            self._prune_row(item, row)
        if item in user.recent:
            user.recent.remove(item)
        user.recent.append(item)

    def _prune_row(self, item: str, row: dict[str, float]) -> None:
        for weakest in sorted(row, key=row.__getitem__)[: len(row) - self.config.max_neighbours]:
            del row[weakest]
        self._row_sums[item] = sum(row.values())

    def _update_profile(
        self,
        user: UserState,
        item: str,
        row: dict[str, float],
        event_type: str,
        ts: float | None,
        pair_weight: float,
    ) -> None:
        c = self.config
        # A new contribution weighs 1/user_decay more than the previous one (and more
        # still after a pause): growing the user's scale does that without touching
        # the stored scores.
        exponent = self._log_user_decay
        if ts is not None:
            if user.ts is not None and ts > user.ts:
                exponent += self._user_rate * (ts - user.ts)
            if user.ts is None or ts > user.ts:
                user.ts = ts
        user.scale *= math.exp(min(exponent, _MAX_EXPONENT))
        scores = user.scores
        if user.scale > _RESCALE_ABOVE:
            factor = 1.0 / user.scale
            for candidate in scores:
                scores[candidate] *= factor
            user.prior *= factor
            user.scale = 1.0

        seen = user.seen
        seen.pop(item, None)
        seen[item] = None
        if len(seen) > c.max_history:
            del seen[next(iter(seen))]
        scores.pop(item, None)

        # The row, smoothed towards global popularity: (n_ic + a * p_c) / (n_i + a). A
        # sparse row says little, so it mostly adds weight to the popularity prior.
        prior = c.popularity_prior * pair_weight  # in the row's (time-scaled) units
        total = self._row_sums[item] + prior
        weight = self._weights.get(event_type, c.default_weight)
        if total > 0.0 and weight > 0.0:
            factor = weight * user.scale / total
            user.prior += factor * prior
            get = scores.get
            # A comprehension then one update() is ~30% faster than item assignments.
            scores.update(
                {c: get(c, 0.0) + factor * value for c, value in row.items() if c not in seen}
            )
            if len(scores) > _CANDIDATE_SLACK * c.max_candidates:
                ranked = sorted(scores, key=scores.__getitem__)
                for weakest in ranked[: len(scores) - c.max_candidates]:
                    del scores[weakest]

    # ------------------------------------------------------------------ catalogue
    @property
    def _max_unavailable(self) -> int:
        return self.config.max_unavailable

    # ------------------------------------------------------------------ answering
    def recommend(
        self, user_id: str, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """Top-``k`` ``(product_id, score)`` for ``user_id``, best first.

        ``exclude``: items this request must not return (say, what the user bought, as
        the caller knows it), on top of what the user interacted with and unavailable
        products.
        """
        if k <= 0:
            return []
        if exclude:
            # Ask for more, then drop the excluded: the lists stay exact whatever the size.
            ranked = self.recommend(user_id, k + len(exclude))
            return [pair for pair in ranked if pair[0] not in exclude][:k]
        unavailable = self._unavailable
        user = self._users.get(user_id)
        out: list[tuple[str, float]] = []
        if user is not None and user.prior > 0.0:
            return self._blend(user, k)
        if user is not None and user.scores:
            scores, seen, scale = user.scores, user.seen, user.scale
            for candidate in sorted(scores, key=scores.__getitem__, reverse=True):
                if candidate not in unavailable and candidate not in seen:
                    out.append((candidate, scores[candidate] / scale))
                    if len(out) == k:
                        return out
        return out + self._fallback(user, out, k - len(out))

    def _blend(self, user: UserState, k: int) -> list[tuple[str, float]]:
        """Co-occurrence scores plus the user's popularity prior times each item's share."""
        popularity, unavailable, seen = self._popularity, self._unavailable, user.seen
        scores, inverse = user.scores, 1.0 / user.scale
        share = user.prior * inverse / max(popularity.total, 1)
        count = popularity.counts.get
        # Blend the strongest co-occurrence candidates (scores never hold seen items)...
        strongest = sorted(scores, key=scores.__getitem__, reverse=True)[: _BLEND_DEPTH * k]
        blended = {
            c: scores[c] * inverse + share * count(c, 0) for c in strongest if c not in unavailable
        }
        ranked = sorted(blended, key=blended.__getitem__, reverse=True)[:k]
        # ...with the most popular items: their prior term falls along the popularity
        # order, so the walk stops at the first one that cannot enter the list.
        floor = blended[ranked[-1]] if len(ranked) == k else -1.0
        walked = False
        for item in popularity:
            prior = share * count(item, 0)
            if prior <= floor:
                break
            if item not in blended and item not in seen and item not in unavailable:
                blended[item] = prior + scores.get(item, 0.0) * inverse
                ranked.append(item)
                walked = True
                if len(ranked) >= 2 * k:
                    break
        if walked:
            ranked = sorted(ranked, key=blended.__getitem__, reverse=True)[:k]
        return [(item, blended[item]) for item in ranked]

    def _fallback(
        self, user: UserState | None, chosen: list[tuple[str, float]], n: int
    ) -> list[tuple[str, float]]:
        popularity = self._popularity
        if n <= 0 or not len(popularity):
            return []
        taken = {item for item, _ in chosen}
        seen: Mapping[str, None] = user.seen if user is not None else {}
        total = float(popularity.total)
        out: list[tuple[str, float]] = []
        for item in popularity:
            if item not in seen and item not in taken and item not in self._unavailable:
                out.append((item, popularity.count(item) / total))
                if len(out) == n:
                    break
        return out

    # ------------------------------------------------------------------ introspection
    @property
    def version(self) -> str:
        """``<algorithm>@<events learned>``: names the state a list came from."""
        return f"{ALGORITHM}@{self._learned}"

    @property
    def events_learned(self) -> int:
        """Events learned since the model was created (snapshots included)."""
        return self._learned

    def size(self) -> dict[str, int]:
        """Entries held, by structure (for the model-size gauges)."""
        return {
            "users": len(self._users),
            "items": len(self._rows),
            "neighbours": sum(len(row) for row in self._rows.values()),
            "candidates": sum(len(user.scores) for user in self._users.values()),
            "history": sum(len(user.seen) for user in self._users.values()),
            "unavailable": len(self._unavailable),
        }

    def seen_by(self, user_id: str) -> list[str]:
        """The items ``user_id`` interacted with that are remembered, oldest first."""
        user = self._users.get(user_id)
        return list(user.seen) if user is not None else []
