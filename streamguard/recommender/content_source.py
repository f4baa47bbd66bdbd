"""What a recommender asks of product meaning: content neighbours and how cold an item is.

The sequence model (:mod:`.sequence`) scores products with little interaction history by
the cosine between their embedding and the user's recent items. It does not embed
anything itself: it asks a :class:`ContentSource` (the index in :mod:`.content`, fed in
batches off the record's path) for each recent item's nearest products by meaning, and
blends that evidence with co-occurrence by :func:`content_weight`, which moves from
content to collaborative evidence as a product's interactions grow. It also re-ranks its
best candidates by their :meth:`ContentSource.similarity` to the user's last items.

Examples
--------
>>> content_weight(0, half=5.0)
1.0
>>> content_weight(5, half=5.0)
0.5
>>> round(content_weight(45, half=5.0), 2)
0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["ContentSource", "attach_content", "content_weight"]


class ContentSource(Protocol):
    """Nearest products by meaning, as the recommender reads them at query time."""

    def neighbours(self, item: str) -> Sequence[tuple[str, float]]:
        """Up to the index's ``k`` products closest to ``item`` by cosine (> 0), best first,
        never ``item`` itself; empty when ``item`` has no vector."""
        ...

    def similarity(self, items: Sequence[str], anchors: Sequence[tuple[str, float]]) -> list[float]:
        """For each of ``items``, the weighted sum of its cosines to the ``(product,
        weight)`` ``anchors`` (the user's recent items); 0 for items without a vector."""
        ...

    def __contains__(self, item: object) -> bool:
        """Whether ``item`` has a vector."""
        ...


def content_weight(interactions: int, half: float) -> float:
    """Share of a product's score that comes from content: 1 with no interactions, 1/2
    at ``half`` interactions, towards 0 as they grow (``half / (half + n)``)."""
    if half <= 0.0:
        return 0.0
    return half / (half + max(interactions, 0))


def attach_content(model: object, content: object) -> bool:
    """Give ``model`` the content source when it takes one (a ``content`` attribute, as
    the sequence model has); True when attached. Models without one are left alone.

    >>> class Model:
    ...     content = None
    >>> attach_content(Model(), object()), attach_content(object(), object())
    (True, False)
    """
    if not hasattr(model, "content"):
        return False
    setattr(model, "content", content)  # noqa: B010 (any model; checked above)
    return True
