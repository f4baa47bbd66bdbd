"""Reading the few fields the recommender needs from a behaviour record."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["Interaction", "event_time_s", "interaction"]


class Interaction(NamedTuple):
    """A behaviour event reduced to what the model learns from."""

    user_id: str
    product_id: str
    event_type: str
    ts: float | None  # seconds since the epoch, None when absent or unreadable


def _identifier(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def event_time_s(value: Any) -> float | None:
    """Seconds since the epoch from a ``ts`` (epoch millis or RFC 3339), else None.

    >>> event_time_s(1_000), event_time_s("1970-01-01T00:00:02Z"), event_time_s("soon")
    (1.0, 2.0, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000.0
        return seconds if math.isfinite(seconds) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def interaction(record: Mapping[str, Any]) -> Interaction | None:
    """The interaction in a behaviour record, or None when it has no user or product.

    >>> interaction({"user_id": 7, "product_id": "p1", "event_type": "view", "ts": 5000})
    Interaction(user_id='7', product_id='p1', event_type='view', ts=5.0)
    >>> interaction({"user_id": "u", "event_type": "search", "query": "socks"}) is None
    True
    """
    user_id = _identifier(record.get("user_id"))
    product_id = _identifier(record.get("product_id"))
    if user_id is None or product_id is None:
        return None
    event_type = record.get("event_type")
    return Interaction(
        user_id,
        product_id,
        event_type if isinstance(event_type, str) else "",
        event_time_s(record.get("ts")),
    )
