"""The ``recommendations`` topic's record (DESIGN.md): key ``user_id``, value below.

Examples
--------
>>> from datetime import UTC, datetime
>>> recommendation_record(
...     "u1", [("p9", 0.8123456789), ("p2", 0.5)], "item-cooc-v1@42",
...     datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
... )  # doctest: +NORMALIZE_WHITESPACE
{'user_id': 'u1', 'items': [{'product_id': 'p9', 'score': 0.812346},
 {'product_id': 'p2', 'score': 0.5}], 'model_version': 'item-cooc-v1@42',
 'generated_at': '2026-11-23T12:00:00.000Z'}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from streamguard.events.records import format_ts

__all__ = ["recommendation_record"]

#: Scores are relative within one list; six decimals keep records short and stable.
SCORE_DECIMALS = 6


def recommendation_record(
    user_id: str,
    items: Sequence[tuple[str, float]],
    model_version: str,
    generated_at: datetime,
) -> dict[str, Any]:
    """``{"user_id", "items": [{"product_id", "score"}], "model_version", "generated_at"}``."""
    return {
        "user_id": user_id,
        "items": [
            {"product_id": product_id, "score": round(score, SCORE_DECIMALS)}
            for product_id, score in items
        ],
        "model_version": model_version,
        "generated_at": format_ts(generated_at),
    }
