"""The recommender models by name, and what the service asks of any of them.

Two algorithms implement :class:`RecommenderModel`:

* ``item-cooc`` — :class:`~.model.CooccurrenceRecommender` (``item-cooc-v1``), the default;
* ``item-seq`` — :class:`~.sequence.SequenceRecommender` (``item-seq-v1``), sequence-aware,
  optionally blending product meaning (its ``content`` attribute).

``Settings.recommender_algorithm`` (``STREAMGUARD_RECOMMENDER_ALGORITHM``) picks one for
the recommender process; :func:`new_model` builds it.

Examples
--------
>>> new_model("item-seq").version
'item-seq-v1@0'
>>> algorithm_of(new_model("item-cooc"))
'item-cooc'
>>> new_model("item-svd")
Traceback (most recent call last):
...
ValueError: unknown recommender algorithm 'item-svd' (known: item-cooc, item-seq)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from streamguard.recommender.model import ALGORITHM, CooccurrenceRecommender
from streamguard.recommender.params import RecommenderConfig, SequenceConfig
from streamguard.recommender.sequence import SEQUENCE_ALGORITHM, SequenceRecommender

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "RecommenderModel",
    "algorithm_of",
    "new_model",
]

#: ``Settings.recommender_algorithm`` values -> the version tag their models carry.
ALGORITHMS: dict[str, str] = {"item-cooc": ALGORITHM, "item-seq": SEQUENCE_ALGORITHM}
DEFAULT_ALGORITHM = "item-cooc"


@runtime_checkable
class RecommenderModel(Protocol):
    """What :class:`~.service.RecommenderService` asks of a model (both have it)."""

    @property
    def version(self) -> str:
        """``<algorithm tag>@<events learned>``."""
        ...

    @property
    def events_learned(self) -> int:
        """Events learned since the model was created (snapshots included)."""
        ...

    def learn_one(self, event: Mapping[str, Any]) -> bool:
        """Learn one clean behaviour record; True when it was used."""
        ...

    def recommend(
        self, user_id: str, k: int = 10, exclude: Collection[str] = ()
    ) -> Sequence[tuple[str, float]]:
        """Top-``k`` ``(product_id, score)``, best first."""
        ...

    def update_product(self, record: Mapping[str, Any]) -> None:
        """Apply a clean product record (delete / stock change)."""
        ...

    def remove_product(self, product_id: str) -> None:
        """Never recommend ``product_id``."""
        ...

    def is_available(self, product_id: str) -> bool:
        """False for products marked unavailable."""
        ...

    def size(self) -> dict[str, int]:
        """Entries held, by structure."""
        ...


def new_model(
    algorithm: str = DEFAULT_ALGORITHM,
    config: RecommenderConfig | SequenceConfig | None = None,
) -> CooccurrenceRecommender | SequenceRecommender:
    """An empty model of ``algorithm`` (``item-cooc`` or ``item-seq``); ``config`` must
    be that algorithm's (:class:`RecommenderConfig` / :class:`SequenceConfig`) or None."""
    if algorithm == "item-cooc":
        if config is not None and not isinstance(config, RecommenderConfig):
            raise TypeError("item-cooc takes a RecommenderConfig")
        return CooccurrenceRecommender(config)
    if algorithm == "item-seq":
        if config is not None and not isinstance(config, SequenceConfig):
            raise TypeError("item-seq takes a SequenceConfig")
        return SequenceRecommender(config)
    known = ", ".join(ALGORITHMS)
    raise ValueError(f"unknown recommender algorithm {algorithm!r} (known: {known})")


def algorithm_of(model: object) -> str | None:
    """The ``Settings.recommender_algorithm`` name of ``model``, None for another kind."""
    if isinstance(model, SequenceRecommender):
        return "item-seq"
    if isinstance(model, CooccurrenceRecommender):
        return "item-cooc"
    return None
