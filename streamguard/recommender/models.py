"""The recommender models by name, and what the service asks of any of them.

Two algorithms implement :class:`RecommenderModel`:

* ``item-cooc`` — :class:`~.model.CooccurrenceRecommender` (``item-cooc-v1``);
* ``item-seq`` — :class:`~.sequence.SequenceRecommender` (``item-seq-v1``), sequence-aware,
  optionally blending product meaning (its ``content`` attribute).

``Settings.recommender_algorithm`` (``STREAMGUARD_RECOMMENDER_ALGORITHM``) picks one for
the recommender process, or ``auto`` (the default): the algorithm of the snapshot the
process restores, so an upgrade keeps a model's state, and ``item-seq`` when there is
none. :func:`new_model` builds an empty model; :func:`choose_model` decides between a
restored model and a new one.

Examples
--------
>>> new_model("item-seq").version
'item-seq-v1@0'
>>> algorithm_of(new_model("item-cooc"))
'item-cooc'
>>> new_model("auto").version  # no snapshot: the sequence model
'item-seq-v1@0'
>>> old = new_model("item-cooc")
>>> choose_model("auto", old) is old, choose_model("item-cooc", old) is old
(True, True)
>>> choose_model("item-seq", old).version  # the other algorithm: an empty model
'item-seq-v1@0'
>>> new_model("item-svd")
Traceback (most recent call last):
...
ValueError: unknown recommender algorithm 'item-svd' (known: auto, item-cooc, item-seq)
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from streamguard.recommender.model import ALGORITHM, CooccurrenceRecommender
from streamguard.recommender.params import RecommenderConfig, SequenceConfig
from streamguard.recommender.sequence import SEQUENCE_ALGORITHM, SequenceRecommender

__all__ = [
    "ALGORITHMS",
    "AUTO",
    "AUTO_NEW",
    "DEFAULT_ALGORITHM",
    "RecommenderModel",
    "algorithm_of",
    "choose_model",
    "new_model",
]

log = logging.getLogger(__name__)

#: ``Settings.recommender_algorithm`` values that name a model -> its version tag.
ALGORITHMS: dict[str, str] = {"item-cooc": ALGORITHM, "item-seq": SEQUENCE_ALGORITHM}
AUTO = "auto"
"""Keep the algorithm of the snapshot restored; :data:`AUTO_NEW` without one."""
AUTO_NEW = "item-seq"
DEFAULT_ALGORITHM = AUTO


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
    """An empty model of ``algorithm`` (``item-cooc``, ``item-seq``, or ``auto``: a new
    model is :data:`AUTO_NEW`'s); ``config`` must be that algorithm's
    (:class:`RecommenderConfig` / :class:`SequenceConfig`) or None."""
    if algorithm == AUTO:
        algorithm = AUTO_NEW
    if algorithm == "item-cooc":
        if config is not None and not isinstance(config, RecommenderConfig):
            raise TypeError("item-cooc takes a RecommenderConfig")
        return CooccurrenceRecommender(config)
    if algorithm == "item-seq":
        if config is not None and not isinstance(config, SequenceConfig):
            raise TypeError("item-seq takes a SequenceConfig")
        return SequenceRecommender(config)
    known = ", ".join((AUTO, *ALGORITHMS))
    raise ValueError(f"unknown recommender algorithm {algorithm!r} (known: {known})")


def choose_model(
    algorithm: str,
    restored: object | None,
    config: RecommenderConfig | SequenceConfig | None = None,
    *,
    source: object = "the snapshot",
) -> CooccurrenceRecommender | SequenceRecommender:
    """The model to run: ``restored`` (a snapshot's model; None without one) when it is
    of ``algorithm``, or of any known algorithm for ``auto``; otherwise a new model of
    ``algorithm`` (``config``), and a restored model of the other algorithm is dropped
    with a warning naming ``source``. ``restored`` keeps the configuration it was saved
    with. The caller tells "kept" by identity (``model is restored``)."""
    held = algorithm_of(restored)
    if restored is not None and held is not None and algorithm in (AUTO, held):
        assert isinstance(restored, CooccurrenceRecommender | SequenceRecommender)
        return restored
    model = new_model(algorithm, config)
    if restored is not None:
        log.warning(
            "recommender: %s holds a %s model but the algorithm is %s: starting an empty "
            "%s model (the next snapshot replaces it)",
            source,
            held,
            algorithm,
            algorithm_of(model),
        )
    return model


def algorithm_of(model: object) -> str | None:
    """The ``Settings.recommender_algorithm`` name of ``model``, None for another kind."""
    if isinstance(model, SequenceRecommender):
        return "item-seq"
    if isinstance(model, CooccurrenceRecommender):
        return "item-cooc"
    return None
