"""How the sequence model answers: a user's list from their candidates and the context.

The query side of :class:`~streamguard.recommender.sequence.SequenceRecommender` (a
mixin over the state that learning keeps; see :mod:`.sequence` for the model): the
user's candidate scores (``UserState.scores``, brought up to date by ``_fold``) blended
with the time-decayed popularity prior, the transitions of the user's last items, the
content neighbours of their last items and, when the user's recent items have a vector,
a re-ranking of the best ``RERANK_DEPTH * k`` by meaning. Without a vector for any of
them there is nothing to re-rank by, and ``k`` are ranked directly.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

from streamguard.recommender.content_source import ContentSource, content_weight
from streamguard.recommender.params import SequenceConfig
from streamguard.recommender.popularity import PopularityRanking
from streamguard.recommender.trending import Trending, most_popular
from streamguard.recommender.user import UserState

__all__ = ["BLEND_DEPTH", "RERANK_DEPTH", "SequenceLists"]

#: Candidates blended with popularity per query, per k (the strongest by co-occurrence).
BLEND_DEPTH = 3
#: Candidates re-ranked by meaning per query, per k.
RERANK_DEPTH = 3


class SequenceLists:
    """``recommend`` over the sequence model's state (declared here, kept by the model)."""

    config: SequenceConfig
    content: ContentSource | None
    _users: dict[str, UserState]
    _unavailable: dict[str, None]
    _popularity: PopularityRanking
    _trending: Trending | None
    _next: dict[str, dict[str, float]]
    _next_sums: dict[str, float]
    _step_weights: list[float]
    _scale_now: float | None

    def _fold(self, user: UserState) -> None:
        raise NotImplementedError

    def _pair_scale(self) -> float:
        raise NotImplementedError

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
        if user.pending:
            self._fold(user)
        content, c = self.content, self.config
        if content is None or c.content_rerank <= 0.0:
            return self._rank(user, k, exclude)
        anchors = self._anchors(content, user)
        if anchors is None:  # no meaning to re-rank by: k ranked as without re-ranking
            return self._rank(user, k, exclude)
        return self._rerank(content, anchors, self._rank(user, RERANK_DEPTH * k, exclude), k)

    def _anchors(self, content: ContentSource, user: UserState) -> list[tuple[str, float]] | None:
        """The user's last ``rerank_depth`` items that have a vector, with their shares
        of the weight of all of them (each step back ``rerank_decay`` less); None when
        none has one: every similarity would be 0 and the order would stand, so the
        caller ranks ``k`` candidates, not ``RERANK_DEPTH * k`` (with the default depths
        the additive content path then adds nothing either, and the list is the one
        without content)."""
        c = self.config
        weight, total, anchors = 1.0, 0.0, []
        for _, item in zip(range(c.rerank_depth), reversed(user.recent), strict=False):
            if item in content:  # one without a vector adds 0 to every similarity
                anchors.append((item, weight))
            total += weight
            weight *= c.rerank_decay
        if not anchors:
            return None
        return [(item, w / total) for item, w in anchors]

    def _rerank(
        self,
        content: ContentSource,
        anchors: list[tuple[str, float]],
        ranked: list[tuple[str, float]],
        k: int,
    ) -> list[tuple[str, float]]:
        """``ranked``'s best ``k`` once each score is multiplied by ``exp(content_rerank *
        similarity)``: the weighted mean cosine to the user's last items (``anchors``)."""
        c = self.config
        similarity = content.similarity([item for item, _ in ranked], anchors)
        beta, exp = c.content_rerank, math.exp
        boosted = [
            (item, score * exp(beta * near))
            for (item, score), near in zip(ranked, similarity, strict=True)
        ]
        boosted.sort(key=lambda pair: pair[1], reverse=True)
        return boosted[:k]

    def _rank(self, user: UserState, k: int, exclude: Collection[str]) -> list[tuple[str, float]]:
        """Top-``k`` by co-occurrence, transitions, additive content and popularity."""
        seen, unavailable = user.seen, self._unavailable
        scores, inverse = user.scores, 1.0 / user.scale
        # The popularity prior: lately popular items (all-time without a half-life).
        leaders, counts, per_count = self._prior_shares()
        weight = user.prior * inverse * per_count
        count = counts.get
        depth = BLEND_DEPTH * k
        strongest: Iterable[str] = scores
        if len(scores) > depth:
            strongest = sorted(scores, key=scores.__getitem__, reverse=True)[:depth]
        blended = {o: scores[o] * inverse + weight * count(o, 0) for o in strongest}
        extra: dict[str, float] = {}
        if self._step_weights:
            self._add_transitions(user, extra, seen)
        if self.content is not None and self.config.content_blend > 0.0:
            self._add_content(self.content, user, extra, seen)
        if extra:
            get = blended.get
            blended.update({o: get(o, weight * count(o, 0)) + value for o, value in extra.items()})
        if unavailable or exclude:
            for o in [o for o in blended if o in unavailable or o in exclude]:
                del blended[o]
        ranked = sorted(blended, key=blended.__getitem__, reverse=True)[:k]
        # The most popular items may enter through the prior alone: their prior term
        # falls along the popularity order, so the walk stops at the first that cannot.
        floor = blended[ranked[-1]] if len(ranked) == k else -1.0
        walked = False
        for item in leaders:
            boost = weight * count(item, 0)
            if boost <= floor:
                break
            if item not in blended and item not in seen and item not in unavailable:
                if item not in exclude:
                    blended[item] = boost
                    ranked.append(item)
                    walked = True
                    if len(ranked) >= 2 * k:
                        break
        if walked:
            ranked = sorted(ranked, key=blended.__getitem__, reverse=True)[:k]
        out = [(item, blended[item]) for item in ranked]
        if len(out) < k:
            out += self._popular({**seen, **blended}, k - len(out), exclude)
        return out

    def _prior_shares(self) -> tuple[Iterable[str], Mapping[str, float], float]:
        """Items by popularity, most first, their counts, and what turns a count into a
        share of interactions: time decayed (``popularity_half_life_s``) when finite,
        else all-time."""
        if self._trending is not None:
            return self._trending.top(), *self._trending.shares()
        popularity = self._popularity
        return popularity, popularity.counts, 1.0 / max(popularity.total, 1)

    def _add_transitions(
        self, user: UserState, blended: dict[str, float], seen: Mapping[str, None]
    ) -> None:
        """What the user's last items led to lately, into ``blended``."""
        c = self.config
        successors_of, totals = self._next, self._next_sums
        prior = c.transition_prior * (self._scale_now or self._pair_scale())
        get = blended.get
        for step, item in zip(self._step_weights, reversed(user.recent), strict=False):
            successors = successors_of.get(item)
            if successors:
                factor = c.transition_weight * step / (totals[item] + prior)
                blended.update(
                    {
                        o: get(o, 0.0) + factor * value
                        for o, value in successors.items()
                        if o not in seen
                    }
                )

    def _add_content(
        self,
        content: ContentSource,
        user: UserState,
        blended: dict[str, float],
        seen: Mapping[str, None],
    ) -> None:
        """Neighbours by meaning of the user's last items, weighted towards cold ones."""
        c = self.config
        count = self._popularity.counts.get
        get = blended.get
        weight, half = c.content_blend, c.content_half
        for _, item in zip(range(c.content_depth), reversed(user.recent), strict=False):
            for other, cosine in content.neighbours(item):
                if other not in seen:
                    share = content_weight(count(other, 0), half)
                    blended[other] = get(other, 0.0) + weight * share * cosine
            weight *= 0.5

    def _popular(
        self, skip: Mapping[str, object], n: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        """The ``n`` most popular items lately (then of all time) not in ``skip``,
        ``exclude`` or unavailable; scores are their shares of interactions."""
        return most_popular(self._trending, self._popularity, n, (skip, exclude, self._unavailable))
