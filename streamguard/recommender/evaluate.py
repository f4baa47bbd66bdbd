"""Prequential evaluation of the recommender (``streamguard eval-recommender``).

Events are read in file order. For every event with a ``product_id`` whose user had an
earlier event, the model is asked for its top-K *before* it learns the event: a hit when
the event's product is in the list (HR@K), discounted by rank (NDCG@K, one relevant
item: ``1 / log2(rank + 1)``). The popularity baseline (most popular so far, excluding
what the user has seen) is scored on the same events in the same run.

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
from dataclasses import dataclass
from typing import IO, Any, Protocol

import orjson

from streamguard.recommender._events import interaction
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.popularity import PopularityRanking

__all__ = [
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

# (event, user_id, product_id to score or None)
_Step = tuple[Mapping[str, Any], str, str | None]


_Recommend = Callable[[str, int], Sequence[tuple[str, float]]]


def _replay(
    steps: list[_Step], k: int, recommend: _Recommend, learn: Callable[[Mapping[str, Any]], object]
) -> tuple[int, float, int]:
    """Ask-then-learn over one block: (hits, NDCG sum, events learned)."""
    hits = learned = 0
    ndcg = 0.0
    for event, user_id, target in steps:
        if target is not None:
            gain = _gain([item for item, _ in recommend(user_id, k)], target)
            hits += gain > 0.0
            ndcg += gain
        learned += bool(learn(event))
    return hits, ndcg, learned


def evaluate(
    events: Iterable[Mapping[str, Any] | None],
    *,
    k: int = 10,
    model: RankingModel | None = None,
    baseline: PopularityBaseline | None = None,
) -> EvaluationResult:
    """Prequential HR@k / NDCG@k of ``model`` and the popularity baseline over ``events``.

    ``None`` items stand for unreadable lines: counted as skipped.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    if model is None:
        model = CooccurrenceRecommender()
    baseline = baseline or PopularityBaseline()
    known_users: set[str] = set()
    count = skipped = learned = evaluated = hits = base_hits = 0
    ndcg = base_ndcg = model_seconds = 0.0
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
            scored = seen is not None and user_id in known_users
            steps.append((event, user_id, seen.product_id if scored and seen else None))
            evaluated += scored
            known_users.add(user_id)
        if not steps:
            break
        # CPU time of this process: "events/s on one core" whatever else shares the machine.
        tick = time.process_time()
        block_hits, block_ndcg, block_learned = _replay(steps, k, model.recommend, model.learn_one)
        model_seconds += time.process_time() - tick
        hits, ndcg, learned = hits + block_hits, ndcg + block_ndcg, learned + block_learned
        base_block = _replay(steps, k, _ranked(baseline.recommend), baseline.learn_one)
        base_hits, base_ndcg = base_hits + base_block[0], base_ndcg + base_block[1]
    scored_events = max(evaluated, 1)
    return EvaluationResult(
        k=k,
        events=count,
        skipped=skipped,
        learned=learned,
        evaluated=evaluated,
        hr_at_k=hits / scored_events,
        ndcg_at_k=ndcg / scored_events,
        baseline_hr_at_k=base_hits / scored_events,
        baseline_ndcg_at_k=base_ndcg / scored_events,
        model_seconds=model_seconds,
        wall_seconds=time.perf_counter() - started,
        model_version=model.version,
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
    lines = [
        f"StreamGuard recommender, prequential evaluation: {source} (k={k})",
        f"  events {result.events:,}   skipped {result.skipped:,}   "
        f"learned {result.learned:,}   evaluated {result.evaluated:,}",
        "",
        f"  {'':<22} {f'HR@{k}':>9} {f'NDCG@{k}':>9}",
        f"  {'model ' + result.model_version.split('@')[0]:<22}"
        f" {result.hr_at_k:>9.4f} {result.ndcg_at_k:>9.4f}",
        f"  {'popularity baseline':<22}"
        f" {result.baseline_hr_at_k:>9.4f} {result.baseline_ndcg_at_k:>9.4f}",
        f"  {'model / baseline':<22}"
        f" {_ratio(result.hr_at_k, result.baseline_hr_at_k):>9}"
        f" {_ratio(result.ndcg_at_k, result.baseline_ndcg_at_k):>9}",
        "",
        f"  speed  {result.events_per_s:,.0f} events/s learned + evaluated (model CPU "
        f"{result.model_seconds:.2f}s); whole run {result.wall_seconds:.2f}s",
    ]
    return "\n".join(lines)
