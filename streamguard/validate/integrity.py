"""Cross-topic integrity: a behaviour event against the product catalogue.

A behaviour event for a product the catalogue does not know is still a valid event (the
catalogue may lag, or the product may be new), so it is not quarantined. It is flagged
instead: the clean record's ``_dq.flags`` names the problem without changing the
record, and the worker counts every lookup
(``streamguard_catalogue_lookups_total{stream,result}``).

Results: ``hit`` (known product, price consistent or absent), ``unknown_product``,
``price_mismatch`` (same currency, more than ``tolerance`` relative off the catalogue's
price). Events without a ``product_id`` (searches) are not looked up (``None``).

Examples
--------
>>> catalogue = {"p1": {"price": 10.0, "currency": "EUR"}}
>>> check_catalogue({"product_id": "p1", "price": 10.5, "currency": "EUR"}, catalogue)
'hit'
>>> check_catalogue({"product_id": "p1", "price": 30.0, "currency": "EUR"}, catalogue)
'price_mismatch'
>>> check_catalogue({"product_id": "p9"}, catalogue), check_catalogue({"query": "x"}, catalogue)
('unknown_product', None)
>>> FLAGS["unknown_product"]
{'code': 'unknown_product', 'field': 'product_id'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol

__all__ = [
    "FLAGS",
    "LOOKUP_RESULTS",
    "CatalogueLookup",
    "LookupResult",
    "check_catalogue",
    "price_agrees",
]

LookupResult = Literal["hit", "unknown_product", "price_mismatch"]
LOOKUP_RESULTS: Final = ("hit", "unknown_product", "price_mismatch")
#: The ``_dq.flags`` entry of each result that is a problem.
FLAGS: Final[Mapping[str, dict[str, str]]] = {
    "unknown_product": {"code": "unknown_product", "field": "product_id"},
    "price_mismatch": {"code": "price_mismatch", "field": "price"},
}


class CatalogueLookup(Protocol):
    """What integrity needs of a catalogue: ``get(product_id)``."""

    def get(self, product_id: str) -> Mapping[str, Any] | None: ...


def check_catalogue(
    record: Mapping[str, Any], catalogue: CatalogueLookup, tolerance: float = 0.5
) -> LookupResult | None:
    """The catalogue lookup result of one (repaired, valid) behaviour event."""
    product_id = record.get("product_id")
    if not isinstance(product_id, str):
        return None
    product = catalogue.get(product_id)
    if product is None:
        return "unknown_product"
    return "price_mismatch" if price_agrees(record, product, tolerance) is False else "hit"


def price_agrees(
    record: Mapping[str, Any], product: Mapping[str, Any], tolerance: float = 0.5
) -> bool | None:
    """Whether an event's price is within ``tolerance`` (relative) of the catalogue's;
    None when the two cannot be compared (a price missing, another currency).

    >>> price_agrees({"price": 11.0, "currency": "EUR"}, {"price": 10.0, "currency": "EUR"})
    True
    >>> price_agrees({"price": 11.0, "currency": "USD"}, {"price": 10.0, "currency": "EUR"})
    """
    price, listed = record.get("price"), product.get("price")
    if (
        isinstance(price, int | float)
        and isinstance(listed, int | float)
        and listed > 0
        and record.get("currency") == product.get("currency")
    ):
        return abs(price - listed) <= tolerance * listed
    return None
