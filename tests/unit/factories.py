"""Valid events to start from in unit tests; each builder takes overrides.

A ``None`` override removes the field, so ``purchase(price=None)`` is a purchase with
no price.
"""

from __future__ import annotations

from typing import Any


def _apply(event: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def purchase(**changes: Any) -> dict[str, Any]:
    """A valid purchase event."""
    event: dict[str, Any] = {
        "event_id": "e-1",
        "event_type": "purchase",
        "user_id": "u-1",
        "session_id": "s-1",
        "product_id": "p-1",
        "price": 12.5,
        "currency": "USD",
        "quantity": 2,
        "ts": "2026-11-01T10:00:00Z",
        "platform": "web",
        "schema_version": 1,
    }
    return _apply(event, changes)


def event_of_type(event_type: str, **changes: Any) -> dict[str, Any]:
    """A valid behaviour event of ``event_type`` (search has a query and no product)."""
    if event_type == "search":
        base = purchase(
            event_type="search",
            query="red kettle",
            product_id=None,
            price=None,
            currency=None,
            quantity=None,
        )
    elif event_type in ("add_to_cart", "purchase"):
        base = purchase(event_type=event_type)
    else:
        base = purchase(event_type=event_type, price=None, currency=None, quantity=None)
    return _apply(base, changes)


def upsert(**changes: Any) -> dict[str, Any]:
    """A valid product upsert."""
    event: dict[str, Any] = {
        "event_id": "pe-1",
        "product_id": "p-1",
        "op": "upsert",
        "title": "Kettle",
        "category": "home/kitchen",
        "price": 20.0,
        "currency": "USD",
        "stock": 4,
        "attributes": {"color": "red"},
        "ts": 1_800_000_000_000,
        "schema_version": 1,
    }
    return _apply(event, changes)
