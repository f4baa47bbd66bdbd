"""Popularity with time decay: the items most interacted with *lately*, O(1) per update.

The fallback of :class:`~streamguard.recommender.sequence.SequenceRecommender` for new
users (and to fill short lists) when ``popularity_half_life_s`` is finite: an item's
score is its interactions, each weighing half as much per half-life of event time.

Every score decays at the same rate, so decay never changes the order of two items: only
an item's own interactions move it up. That makes an exact top-``leaders`` list cheap: a
set of at most ``2 * leaders`` items holding every item scored above the last cut's
floor, sorted only when asked after a change. Scores grow by a common scale instead of
decaying (renormalised now and then), and ``max_items`` bounds the items remembered
(least recently interacted with forgotten first).

Examples
--------
>>> trending = Trending(half_life_s=10.0)
>>> for item, ts in [("old", 0.0), ("old", 0.0), ("new", 30.0)]:
...     trending.add(item, ts)
>>> trending.top()[:2]
['new', 'old']
>>> round(trending.score("old") / trending.score("new"), 3)
0.25
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Iterable, Mapping

from streamguard.recommender.popularity import PopularityRanking

__all__ = ["Trending", "most_popular"]

_LN2 = math.log(2.0)
_RESCALE_ABOVE = math.log(1e12)


class Trending:
    """Time-decayed interaction counts with an exact, cached top list."""

    def __init__(self, half_life_s: float, *, leaders: int = 100, max_items: int = 100_000) -> None:
        if not half_life_s > 0.0:
            raise ValueError("half_life_s must be > 0")
        if leaders < 1 or max_items < 1:
            raise ValueError("leaders and max_items must be >= 1")
        self.half_life_s = half_life_s
        self.leaders = leaders
        self.max_items = max_items
        self._rate = _LN2 / half_life_s
        self._scores: dict[str, float] = {}  # item -> score * scale; LRU order
        self._leaders: dict[str, None] = {}
        self._floor = 0.0
        self._ranked: list[str] | None = []  # the leaders, best first (None: to sort)
        self._total = 0.0  # every score's sum, * scale
        self._clock: float | None = None
        self._ref = 0.0  # event time at which stored scores have scale 1
        self._scaled_at: float | None = None  # the clock _last_scale was computed at
        self._last_scale = 1.0

    def __len__(self) -> int:
        return len(self._scores)

    def _scale(self, ts: float | None) -> float:
        if ts is not None and (self._clock is None or ts > self._clock):
            self._clock = ts
        elif self._scaled_at == self._clock:
            return self._last_scale  # same clock as last time: no exp()
        if self._clock is None or math.isinf(self.half_life_s):
            return 1.0
        exponent = self._rate * (self._clock - self._ref)
        if exponent > _RESCALE_ABOVE:
            factor = math.exp(-min(exponent, 700.0))
            for item in self._scores:
                self._scores[item] *= factor
            self._floor *= factor
            self._total *= factor
            self._ref = self._clock
            exponent = 0.0
        self._scaled_at, self._last_scale = self._clock, math.exp(exponent)
        return self._last_scale

    def add(self, item: str, ts: float | None, weight: float = 1.0) -> None:
        """Count one interaction with ``item`` at event time ``ts`` (seconds)."""
        scores = self._scores
        added = weight * self._scale(ts)
        self._total += added
        score = scores.pop(item, 0.0) + added
        scores[item] = score
        if len(scores) > self.max_items:
            forgotten = next(iter(scores))
            del scores[forgotten]
            if forgotten in self._leaders:  # rare: rebuild, or a lower item could lead
                self._rebuild()
        leaders = self._leaders
        if item in leaders:
            self._promote(item, score)
        elif score > self._floor or len(leaders) < self.leaders:
            leaders[item] = None
            if len(leaders) > 2 * self.leaders:
                kept = sorted(leaders, key=scores.__getitem__, reverse=True)[: self.leaders]
                self._leaders = dict.fromkeys(kept)
                self._floor = scores[kept[-1]]
                self._ranked = None
            elif self._ranked is not None:
                self._ranked.append(item)
                self._promote(item, score)

    def _promote(self, item: str, score: float) -> None:
        """Move a leader whose score grew up the cached ranking (scores only grow, so it
        only moves up): a binary search among those above it, then one list move; no
        re-sort per interaction, however far it climbs."""
        ranked = self._ranked
        if ranked is None:
            return
        position = ranked.index(item)
        scores = self._scores
        if position == 0:
            return
        above = ranked[position - 1]
        if scores[above] > score or (scores[above] == score and above < item):
            return  # still below the one above it: most interactions end here
        place = bisect.bisect_left(
            ranked, (-score, item), 0, position, key=lambda i: (-scores[i], i)
        )
        if place < position:
            del ranked[position]
            ranked.insert(place, item)

    def score(self, item: str) -> float:
        """The item's decayed count, in units of one interaction now."""
        return self._scores.get(item, 0.0) / self._scale(None)

    def share(self, item: str) -> float:
        """The item's share of all (decayed) interactions, 0 when none."""
        return self._scores.get(item, 0.0) / self._total if self._total > 0.0 else 0.0

    def shares(self) -> tuple[Mapping[str, float], float]:
        """Every item's scaled score (a live view: read only) and ``1 / their sum``, so
        ``share(item) == scores.get(item, 0) * inverse`` without a call per item."""
        return self._scores, (1.0 / self._total if self._total > 0.0 else 0.0)

    def top(self) -> list[str]:
        """Up to ``leaders`` (or more) items, highest decayed count first."""
        if self._ranked is None:
            scores = self._scores
            # Ties by name, as _promote keeps them: one order, however it was built.
            self._ranked = sorted(self._leaders, key=lambda i: (-scores[i], i))
        return self._ranked

    # ------------------------------------------------------------------ snapshots
    def state(self) -> dict[str, object]:
        """JSON-ready state (see :mod:`.snapshot`)."""
        return {
            "clock": self._clock,
            "ref": self._ref,
            "total": self._total,
            "items": [[item, score] for item, score in self._scores.items()],
        }

    def load(
        self, clock: float | None, ref: float, total: float, items: Iterable[tuple[str, float]]
    ) -> None:
        """Replace the state with one from :meth:`state` (values already checked)."""
        self._clock, self._ref, self._total = clock, ref, total
        self._scaled_at = None
        self._scores = dict(items)
        while len(self._scores) > self.max_items:
            del self._scores[next(iter(self._scores))]
        self._rebuild()

    def _rebuild(self) -> None:
        """Leaders and floor from every score (a full sort)."""
        kept = sorted(self._scores, key=self._scores.__getitem__, reverse=True)
        self._leaders = dict.fromkeys(kept[: self.leaders])
        self._floor = self._scores[kept[self.leaders - 1]] if len(kept) >= self.leaders else 0.0
        self._ranked = None


def most_popular(
    trending: Trending | None,
    popularity: PopularityRanking,
    n: int,
    skip: Iterable[Collection[str]] = (),
) -> list[tuple[str, float]]:
    """The ``n`` most popular items lately (``trending``'s leaders, by their share of
    decayed interactions), then of all time (by share of all interactions), none in any
    of the ``skip`` collections.

    >>> ranking, trending = PopularityRanking(), Trending(half_life_s=10.0, leaders=1)
    >>> for item, ts in [("old", 0.0), ("old", 0.0), ("new", 30.0)]:
    ...     ranking.add(item)
    ...     trending.add(item, ts)
    >>> [item for item, _ in most_popular(trending, ranking, 3, [{"x"}])]
    ['new', 'old']
    """
    out: list[tuple[str, float]] = []
    skips = list(skip)
    taken: set[str] = set()
    if trending is not None:
        for item in trending.top():
            if not any(item in s for s in skips):
                out.append((item, trending.share(item)))
                taken.add(item)
                if len(out) == n:
                    return out
    total = float(max(popularity.total, 1))
    for item in popularity:
        if item in taken or any(item in s for s in skips):
            continue
        out.append((item, popularity.count(item) / total))
        if len(out) == n:
            break
    return out
