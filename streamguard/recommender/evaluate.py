"""Prequential evaluation of the recommender (``streamguard eval-recommender``).

Events are read in file order. For every event with a ``product_id`` whose user had an
earlier event, the model is asked for its top-K *before* it learns the event: a hit when
the event's product is in the list (HR@K), discounted by rank (NDCG@K, one relevant
item: ``1 / log2(rank + 1)``). The popularity baseline (most popular so far, excluding
what the user has seen) and any ``compare`` models (the command passes the other of its
two models) are scored on the same events in the same run.

Besides the whole stream, every score is also reported on slices of it:

* ``cold_item`` — events whose product had fewer than ``COLD_BELOW`` (5) earlier
  interactions in the stream (the products co-occurrence knows least about);
* ``short_history`` — events of users with fewer than ``COLD_BELOW`` earlier events
  (where the popularity fallback matters most).

Lines that are not JSON objects with a ``user_id`` are skipped and counted. The command
(:mod:`streamguard.commands.eval_recommender`) prints :func:`format_table`, then the
result as one JSON object.

Examples
--------
>>> events = [
...     {"user_id": "a", "product_id": "x"}, {"user_id": "a", "product_id": "y"},
...     {"user_id": "b", "product_id": "x"}, {"user_id": "b", "product_id": "y"},
... ]
>>> result = evaluate(events, k=1)
>>> result.evaluated, result.hr_at_k, result.baseline_hr_at_k
(2, 0.5, 0.5)
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from streamguard.recommender._events import interaction
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.popularity import PopularityRanking

__all__ = [
    "COLD_BELOW",
    "SLICES",
    "EvaluationResult",
    "PopularityBaseline",
    "RankingModel",
    "evaluate",
    "format_table",
    "read_events",
]


class RankingModel(Protocol):
    """What :func:`evaluate` needs of a model (:class:`CooccurrenceRecommender` has it)."""

    @property
    def version(self) -> str:
        """Names the model (and its state) in the report."""
        ...

    def learn_one(self, event: Mapping[str, Any]) -> bool:
        """Learn one event; True when it was used."""
        ...

    def recommend(self, user_id: str, k: int = 10) -> Sequence[tuple[str, float]]:
        """Top-k ``(product_id, score)``, best first."""
        ...


class PopularityBaseline:
    """Most popular so far, excluding every item the user interacted with (unbounded).

    >>> baseline = PopularityBaseline()
    >>> for user, item in [("a", "x"), ("b", "x"), ("b", "y")]:
    ...     baseline.learn_one({"user_id": user, "product_id": item})
    >>> baseline.recommend("a", 2), baseline.recommend("new", 2)
    (['y'], ['x', 'y'])
    """

    def __init__(self) -> None:
        self._ranking = PopularityRanking()
        self._seen: dict[str, set[str]] = {}

    def learn_one(self, event: Mapping[str, Any]) -> None:
        """Count the event's product and remember the user saw it."""
        seen = interaction(event)
        if seen is not None:
            self._ranking.add(seen.product_id)
            self._seen.setdefault(seen.user_id, set()).add(seen.product_id)

    def recommend(self, user_id: str, k: int = 10) -> list[str]:
        """The ``k`` most popular items the user has not interacted with."""
        return [item for item, _ in self._ranking.top(k, self._seen.get(user_id, set()))]


#: A product with fewer earlier interactions than this is "cold"; so is such a user.
COLD_BELOW = 5
#: The slices every score is also reported on (see the module's docstring).
SLICES = ("cold_item", "short_history")


@dataclass(frozen=True)
class SliceScore:
    """HR@k and NDCG@k of one model on one slice."""

    hr_at_k: float
    ndcg_at_k: float

    def as_dict(self) -> dict[str, float]:
        """``{"hr_at_k": ..., "ndcg_at_k": ...}``, rounded."""
        return {"hr_at_k": round(self.hr_at_k, 6), "ndcg_at_k": round(self.ndcg_at_k, 6)}


@dataclass(frozen=True)
class EvaluationResult:
    """What a prequential run measured."""

    k: int
    events: int  #: lines read
    skipped: int  #: lines that were not an event with a user_id
    learned: int  #: events the model learned from (those with a product_id)
    evaluated: int  #: events scored (product_id and an earlier event of the user)
    hr_at_k: float
    ndcg_at_k: float
    baseline_hr_at_k: float
    baseline_ndcg_at_k: float
    model_seconds: float  #: CPU time inside the model: learn_one + recommend + hit check
    wall_seconds: float  #: the whole run: reading, model and baseline
    model_version: str
    #: Events in each slice (see :data:`SLICES`).
    slice_sizes: Mapping[str, int] = field(default_factory=dict)
    #: Scores by model ("model", "popularity", then each compared model's name) and by
    #: slice ("all" and each of :data:`SLICES`).
    scores: Mapping[str, Mapping[str, SliceScore]] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Events learned and evaluated per second of model CPU time (one core)."""
        return (self.events - self.skipped) / self.model_seconds if self.model_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary (the last line of the command's stdout)."""
        wall_rate = (self.events - self.skipped) / self.wall_seconds if self.wall_seconds else 0.0
        return {
            "evaluated": self.evaluated,
            "k": self.k,
            "hr_at_k": round(self.hr_at_k, 6),
            "ndcg_at_k": round(self.ndcg_at_k, 6),
            "events_per_s": round(self.events_per_s, 1),
            "baseline_popularity": {
                "hr_at_k": round(self.baseline_hr_at_k, 6),
                "ndcg_at_k": round(self.baseline_ndcg_at_k, 6),
            },
            "events": self.events,
            "skipped": self.skipped,
            "learned": self.learned,
            "model_seconds": round(self.model_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "wall_events_per_s": round(wall_rate, 1),
            "model_version": self.model_version,
            "baselines": {
                name: by_slice["all"].as_dict()
                for name, by_slice in self.scores.items()
                if name != "model"
            },
            "slices": {
                name: {
                    "evaluated": size,
                    **{model: by[name].as_dict() for model, by in self.scores.items()},
                }
                for name, size in self.slice_sizes.items()
            },
        }


def _gain(ranked: list[str], item: str) -> float:
    """NDCG of one relevant item: 1/log2(rank + 1) when it is in the list, else 0."""
    try:
        return 1.0 / math.log2(ranked.index(item) + 2)
    except ValueError:
        return 0.0


#: Events per block: each block is planned, then replayed through the model in one timed
#: pass (no per-event timer calls), then through the baseline.
BLOCK = 4096

# (event, user_id, product_id to score or None, the slices the event belongs to)
_Step = tuple[Mapping[str, Any], str, str | None, tuple[str, ...]]


_Recommend = Callable[[str, int], Sequence[tuple[str, float]]]


class _Tally:
    """Hits and NDCG sums of one model, overall and by slice."""

    def __init__(self) -> None:
        self.hits = dict.fromkeys(("all", *SLICES), 0)
        self.ndcg = dict.fromkeys(("all", *SLICES), 0.0)
        self.seconds = 0.0

    def scores(self, sizes: Mapping[str, int]) -> dict[str, SliceScore]:
        return {
            name: SliceScore(self.hits[name] / max(n, 1), self.ndcg[name] / max(n, 1))
            for name, n in sizes.items()
        }


def _replay(
    steps: list[_Step],
    k: int,
    recommend: _Recommend,
    learn: Callable[[Mapping[str, Any]], object],
    tally: _Tally,
) -> int:
    """Ask-then-learn over one block, into ``tally``; returns the events learned."""
    hits, ndcg = tally.hits, tally.ndcg
    learned = 0
    for event, user_id, target, slices in steps:
        if target is not None:
            gain = _gain([item for item, _ in recommend(user_id, k)], target)
            if gain > 0.0:
                hits["all"] += 1
                ndcg["all"] += gain
                for name in slices:
                    hits[name] += 1
                    ndcg[name] += gain
        learned += bool(learn(event))
    return learned


def evaluate(
    events: Iterable[Mapping[str, Any] | None],
    *,
    k: int = 10,
    model: RankingModel | None = None,
    baseline: PopularityBaseline | None = None,
    compare: Mapping[str, RankingModel] | None = None,
) -> EvaluationResult:
    """Prequential HR@k / NDCG@k of ``model``, the popularity baseline and the
    ``compare`` models (by name) over ``events``, overall and by slice.

    ``None`` items stand for unreadable lines: counted as skipped.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    if model is None:
        model = CooccurrenceRecommender()
    baseline = baseline or PopularityBaseline()
    compare = dict(compare or {})
    if {"model", "popularity"} & set(compare):
        raise ValueError("'model' and 'popularity' name the evaluated model and baseline")
    tallies = {"model": _Tally(), "popularity": _Tally()}
    tallies.update((name, _Tally()) for name in compare)
    user_events: dict[str, int] = {}
    item_events: dict[str, int] = {}
    sizes = dict.fromkeys(("all", *SLICES), 0)
    count = skipped = learned = 0
    started = time.perf_counter()
    iterator = iter(events)
    while True:
        steps: list[_Step] = []
        for event in itertools.islice(iterator, BLOCK):
            count += 1
            user_id = event.get("user_id") if isinstance(event, Mapping) else None
            if event is None or not isinstance(user_id, str | int) or isinstance(user_id, bool):
                skipped += 1
                continue
            user_id = str(user_id)
            seen = interaction(event)
            earlier = user_events.get(user_id, 0)
            target: str | None = None
            slices: tuple[str, ...] = ()
            if seen is not None:
                item_count = item_events.get(seen.product_id, 0)
                item_events[seen.product_id] = item_count + 1
                if earlier:
                    target = seen.product_id
                    slices = tuple(
                        name
                        for name, cold in (
                            ("cold_item", item_count < COLD_BELOW),
                            ("short_history", earlier < COLD_BELOW),
                        )
                        if cold
                    )
                    sizes["all"] += 1
                    for name in slices:
                        sizes[name] += 1
            steps.append((event, user_id, target, slices))
            user_events[user_id] = earlier + 1
        if not steps:
            break
        # CPU time of this process: "events/s on one core" whatever else shares the machine.
        tick = time.process_time()
        learned += _replay(steps, k, model.recommend, model.learn_one, tallies["model"])
        tallies["model"].seconds += time.process_time() - tick
        _replay(steps, k, _ranked(baseline.recommend), baseline.learn_one, tallies["popularity"])
        for name, other in compare.items():
            tick = time.process_time()
            _replay(steps, k, other.recommend, other.learn_one, tallies[name])
            tallies[name].seconds += time.process_time() - tick
    scores = {name: tally.scores(sizes) for name, tally in tallies.items()}
    ours, popular = scores["model"]["all"], scores["popularity"]["all"]
    return EvaluationResult(
        k=k,
        events=count,
        skipped=skipped,
        learned=learned,
        evaluated=sizes["all"],
        hr_at_k=ours.hr_at_k,
        ndcg_at_k=ours.ndcg_at_k,
        baseline_hr_at_k=popular.hr_at_k,
        baseline_ndcg_at_k=popular.ndcg_at_k,
        model_seconds=tallies["model"].seconds,
        wall_seconds=time.perf_counter() - started,
        model_version=model.version,
        slice_sizes={name: sizes[name] for name in SLICES},
        scores=scores,
    )


def _ranked(recommend: Callable[[str, int], list[str]]) -> _Recommend:
    """The baseline's plain item list as ``(item, score)`` pairs, like a model's."""
    return lambda user_id, k: [(item, 0.0) for item in recommend(user_id, k)]


def read_events(fh: IO[bytes]) -> Iterator[dict[str, Any] | None]:
    """JSON objects from a JSON-lines stream; None for a line that is not one."""
    for line in fh:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield None
            continue
        yield value if isinstance(value, dict) else None


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}x" if whole else "-"


def format_table(result: EvaluationResult, source: str) -> str:
    """The human summary printed before the JSON line."""
    k = result.k
    sizes = {"all": result.evaluated, **result.slice_sizes}
    header = "".join(f" {f'{name} HR@{k}':>22} {f'NDCG@{k}':>9}" for name in sizes)
    lines = [
        f"StreamGuard recommender, prequential evaluation: {source} (k={k})",
        f"  events {result.events:,}   skipped {result.skipped:,}   "
        f"learned {result.learned:,}   evaluated {result.evaluated:,}"
        + "".join(f"   {name} {n:,}" for name, n in result.slice_sizes.items()),
        "",
        f"  {'':<22}{header}",
    ]
    scores = result.scores or {
        "model": {"all": SliceScore(result.hr_at_k, result.ndcg_at_k)},
        "popularity": {"all": SliceScore(result.baseline_hr_at_k, result.baseline_ndcg_at_k)},
    }
    labels = {"model": "model " + result.model_version.split("@")[0]}
    labels["popularity"] = "popularity baseline"
    for name, by_slice in scores.items():
        cells = "".join(
            f" {by_slice[s].hr_at_k:>22.4f} {by_slice[s].ndcg_at_k:>9.4f}"
            for s in sizes
            if s in by_slice
        )
        lines.append(f"  {labels.get(name, name):<22}{cells}")
    ratios = "".join(
        f" {_ratio(scores['model'][s].hr_at_k, scores['popularity'][s].hr_at_k):>22}"
        f" {_ratio(scores['model'][s].ndcg_at_k, scores['popularity'][s].ndcg_at_k):>9}"
        for s in sizes
        if s in scores["model"]
    )
    lines += [
        f"  {'model / baseline':<22}{ratios}",
        "",
        f"  speed  {result.events_per_s:,.0f} events/s learned + evaluated (model CPU "
        f"{result.model_seconds:.2f}s); whole run {result.wall_seconds:.2f}s",
    ]
    return "\n".join(lines)
