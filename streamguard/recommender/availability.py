"""Which products may be recommended: the catalogue's deletes and stock-outs, bounded.

One piece shared by every recommender model (a mixin, so the ``_unavailable`` attribute
that snapshots save stays where it was).

>>> class Model(CatalogueAvailability):
...     def __init__(self) -> None:
...         self._unavailable: dict[str, None] = {}
...     @property
...     def _max_unavailable(self) -> int:
...         return 2
>>> m = Model()
>>> m.update_product({"product_id": "p1", "op": "upsert", "stock": 0})
>>> m.is_available("p1"), m.is_available("p2")
(False, True)
>>> for p in ("p2", "p3"):
...     m.remove_product(p)
>>> m.is_available("p1")  # the oldest mark goes first past the bound
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CatalogueAvailability"]


class CatalogueAvailability:
    """``update_product`` / ``remove_product`` / ``is_available`` over ``_unavailable``
    (insertion-ordered, at most ``_max_unavailable`` products, oldest dropped first)."""

    _unavailable: dict[str, None]

    @property
    def _max_unavailable(self) -> int:
        raise NotImplementedError

    def update_product(self, record: Mapping[str, Any]) -> None:
        """Apply a clean product record: delete or ``stock <= 0`` hides it, else shows it."""
        product_id = record.get("product_id")
        if not isinstance(product_id, str) or not product_id:
            raise ValueError("product record without a product_id")
        stock = record.get("stock")
        out_of_stock = isinstance(stock, int | float) and not isinstance(stock, bool) and stock <= 0
        if record.get("op") == "delete" or out_of_stock:
            self.remove_product(product_id)
        else:
            self._unavailable.pop(product_id, None)

    def remove_product(self, product_id: str) -> None:
        """Never recommend ``product_id`` (deleted, out of stock or quarantined)."""
        self._unavailable.pop(product_id, None)
        self._unavailable[product_id] = None
        if len(self._unavailable) > self._max_unavailable:
            del self._unavailable[next(iter(self._unavailable))]

    def is_available(self, product_id: str) -> bool:
        """False for products the catalogue marked unavailable."""
        return product_id not in self._unavailable
