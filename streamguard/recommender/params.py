"""The recommender's knobs, in one frozen object."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DEFAULT_EVENT_WEIGHTS", "RecommenderConfig", "SequenceConfig"]

#: How much one interaction moves a user's profile, by event type.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "purchase": 4.0,
    "add_to_cart": 3.0,
    "click": 2.0,
    "view": 1.0,
    "remove_from_cart": 0.5,
}


@dataclass(frozen=True)
class RecommenderConfig:
    """Every knob of :class:`~streamguard.recommender.model.CooccurrenceRecommender`.

    The defaults were chosen by measurement on MovieLens (see BENCHMARKS.md).

    Examples
    --------
    >>> RecommenderConfig().window
    5
    >>> RecommenderConfig(max_neighbours=0)
    Traceback (most recent call last):
    ...
    ValueError: max_neighbours must be >= 1
    """

    #: Profile weight per event type; other types (unknown ones) get ``default_weight``.
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    default_weight: float = 1.0
    #: A new interaction pairs with the user's last ``window`` items...
    window: int = 5
    #: ...each step further back counting this much less.
    window_decay: float = 0.7
    #: Pair weight from the new item back to the earlier one (forward is 1).
    backward_weight: float = 0.5
    #: Per new interaction, the user's older interests keep this share of their weight.
    user_decay: float = 0.8
    #: Time half-life of a user's interests (event time), on top of ``user_decay``.
    user_half_life_s: float = 86_400.0
    #: Time half-life of co-occurrence counts (event time): newer pairs outweigh old ones.
    pair_half_life_s: float = 365 * 86_400.0
    #: Pseudo-count pulling each item's row towards global popularity (0: off).
    popularity_prior: float = 10.0
    #: Neighbours kept per item (rows grow to 1.5 times this, then are cut back).
    max_neighbours: int = 30
    #: Candidate scores kept per user (grow to twice this, then are cut back).
    max_candidates: int = 50
    #: Items remembered per user for "already interacted" exclusion.
    max_history: int = 1000
    max_users: int = 100_000
    max_items: int = 100_000
    #: Products remembered as deleted / out of stock / quarantined.
    max_unavailable: int = 100_000

    def __post_init__(self) -> None:
        _check_knobs(
            self,
            counts=(
                "window",
                "max_neighbours",
                "max_candidates",
                "max_history",
                "max_users",
                "max_items",
                "max_unavailable",
            ),
            shares=("window_decay", "user_decay"),
            half_lives=("user_half_life_s", "pair_half_life_s"),
            weights=("backward_weight", "default_weight", "popularity_prior"),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (an infinite half-life is written as None)."""
        return _knobs_as_dict(self, ("user_half_life_s", "pair_half_life_s"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommenderConfig:
        """Inverse of :meth:`as_dict`; unknown keys are an error."""
        return cls(**_knobs_from_dict(cls, data, ("user_half_life_s", "pair_half_life_s")))


@dataclass(frozen=True)
class SequenceConfig:
    """Every knob of :class:`~streamguard.recommender.sequence.SequenceRecommender`
    (defaults tuned on MovieLens ml-latest-small; see BENCHMARKS.md).

    >>> SequenceConfig().window
    10
    >>> SequenceConfig(transition_depth=-1)
    Traceback (most recent call last):
    ...
    ValueError: transition_depth must be >= 0
    """

    #: Profile weight per event type; other types get ``default_weight``. Empty by
    #: default: on MovieLens the types come from the rating and weighting them hurts.
    event_weights: dict[str, float] = field(default_factory=dict)
    default_weight: float = 1.0
    #: A new interaction pairs with the user's last ``window`` items...
    window: int = 10
    #: ...each step further back counting this much less.
    window_decay: float = 0.85
    #: Pair weight from the new item back to the earlier one (forward is 1).
    backward_weight: float = 0.5
    #: Per new interaction, the user's older interests keep this share of their weight.
    user_decay: float = 0.8
    #: Time half-life of a user's interests (event time), on top of ``user_decay``.
    user_half_life_s: float = math.inf
    #: Time half-life of co-occurrence and transition counts (event time).
    pair_half_life_s: float = 730 * 86_400.0
    #: Pseudo-count pulling each row towards global popularity (0: off).
    popularity_prior: float = 10.0
    #: Weight of the "came right after" transitions of the user's last items, at query
    #: time (0: off), next to the profile's total weight of ``1 / (1 - user_decay)``.
    transition_weight: float = 0.2
    #: The last ``transition_depth`` items' transitions count (0: none)...
    transition_depth: int = 1
    #: ...each step back this much less.
    transition_decay: float = 0.5
    #: Pseudo-count of a transition row's total (a rare item's few transitions say less).
    transition_prior: float = 10.0
    #: Successors kept per item (grow to twice this, then are cut back).
    max_transitions: int = 20
    #: Weight of product meaning (an attached content source) at query time (0: off):
    #: cosines (~0.7-0.85) dwarf normalised co-occurrence scores (a few hundredths), so
    #: on ml-latest-small 1.0 sank HR@10 to 0.008; with the re-ranking below 0.02 was
    #: best (0.03 alone; 0.05 with it fell to 0.127; bench/bench_content.py)...
    content_blend: float = 0.02
    #: ...for the neighbours of the user's last ``content_depth`` items (each step back
    #: half as much), each scaled by ``content_weight(interactions, content_half)``
    #: (content counts half at ``content_half`` interactions).
    content_depth: int = 3
    content_half: float = 5.0
    #: Re-ranking by meaning (0: off), when a content source is attached: the best
    #: ``3 * k`` candidates' scores are multiplied by ``exp(content_rerank * s)``, ``s``
    #: the candidate's mean cosine to the user's last ``rerank_depth`` items (each step
    #: back ``rerank_decay`` less). Multiplicative, so it works on co-occurrence's own
    #: scale (ml-latest-small: HR@10 0.1426 -> 0.1460 with blend 0.02; BENCHMARKS.md).
    content_rerank: float = 1.0
    rerank_depth: int = 5
    rerank_decay: float = 0.7
    #: Half-life (event time) of the popularity cold users get (inf: all-time counts).
    popularity_half_life_s: float = 30 * 86_400.0
    max_neighbours: int = 60
    max_candidates: int = 80
    #: Learning leaves the rows of a user's new items to the user's next list, which adds
    #: those of the newest ``max_pending`` items learned since the last: in a burst,
    #: older ones would weigh ``user_decay ** max_pending`` (0.11) of the newest or less.
    #: The prequential evaluation asks before every event, so it never drops any.
    max_pending: int = 10
    max_history: int = 1000
    max_users: int = 100_000
    max_items: int = 100_000
    max_unavailable: int = 100_000

    _COUNTS = (
        "window",
        "rerank_depth",
        "max_neighbours",
        "max_transitions",
        "max_candidates",
        "max_pending",
        "max_history",
        "max_users",
        "max_items",
        "max_unavailable",
    )
    _HALF_LIVES = ("user_half_life_s", "pair_half_life_s", "popularity_half_life_s")

    def __post_init__(self) -> None:
        _check_knobs(
            self,
            counts=self._COUNTS,
            depths=("transition_depth", "content_depth"),
            shares=("window_decay", "user_decay", "transition_decay", "rerank_decay"),
            half_lives=self._HALF_LIVES,
            weights=(
                "backward_weight",
                "default_weight",
                "popularity_prior",
                "transition_weight",
                "transition_prior",
                "content_blend",
                "content_half",
                "content_rerank",
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (an infinite half-life is written as None)."""
        return _knobs_as_dict(self, self._HALF_LIVES)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequenceConfig:
        """Inverse of :meth:`as_dict`; unknown keys are an error."""
        return cls(**_knobs_from_dict(cls, data, cls._HALF_LIVES))


def _knobs_as_dict(
    config: RecommenderConfig | SequenceConfig, half_lives: tuple[str, ...]
) -> dict[str, Any]:
    data = asdict(config)
    for name in half_lives:
        if math.isinf(data[name]):
            data[name] = None
    return data


def _knobs_from_dict(
    cls: type[RecommenderConfig | SequenceConfig],
    data: dict[str, Any],
    half_lives: tuple[str, ...],
) -> dict[str, Any]:
    """The constructor arguments of ``cls`` that ``data`` (from ``as_dict``) names."""
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown recommender settings: {sorted(unknown)}")
    values = dict(data)
    for name in half_lives:
        if name in values and values[name] is None:
            values[name] = math.inf
    if "event_weights" in values:
        weights = values["event_weights"]
        if not isinstance(weights, dict):
            raise ValueError("event_weights must be an object")
        values["event_weights"] = {str(k): float(v) for k, v in weights.items()}
    return values


def _check_knobs(
    config: RecommenderConfig | SequenceConfig,
    *,
    counts: tuple[str, ...],
    depths: tuple[str, ...] = (),
    shares: tuple[str, ...],
    half_lives: tuple[str, ...],
    weights: tuple[str, ...],
) -> None:
    """Both models' knob checks: ``counts`` ints >= 1, ``depths`` ints >= 0, ``shares``
    in (0, 1], ``half_lives`` > 0 (inf: no decay), ``weights`` and the event weights
    finite and >= 0. ValueError names the first knob out of range."""
    for name in counts:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be >= 1")
    for name in depths:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be >= 0")
    for name in shares:
        if not 0.0 < getattr(config, name) <= 1.0:
            raise ValueError(f"{name} must be in (0, 1]")
    for name in half_lives:
        if not getattr(config, name) > 0.0:  # inf is allowed: no time decay
            raise ValueError(f"{name} must be > 0 (inf for no decay)")
    for name in weights:
        value = getattr(config, name)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be a finite number >= 0")
    for event_type, weight in config.event_weights.items():
        if not isinstance(event_type, str) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"event weight {event_type!r}: must be a finite number >= 0")
