"""A pipeline observer that only scores records: ``_dq.anomaly_score`` without drift.

``streamguard check --no-drift`` skips the embedding model, schema drift and semantic
drift, but DESIGN.md's ``_dq`` block promises every clean record a number in
``anomaly_score``. This stamps it from the same :class:`~streamguard.anomaly.record.RecordScorer`
the drift engine uses (numeric, keyed price and text-surprise scores; no embedding
novelty, since no model runs).

Examples
--------
>>> stamp = AnomalyStamp("product", text_fields=("title",))
>>> record = {"product_id": "p1", "title": "Casa Kettle", "price": 20.0, "_dq": {}}
>>> stamp.on_clean(record, None)
>>> record["_dq"]["anomaly_score"]
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamguard.anomaly.record import RecordScorer
from streamguard.events.records import Outcome

__all__ = ["AnomalyStamp"]


class AnomalyStamp:
    """Scores each clean record into ``_dq.anomaly_score`` and learns from it.

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``.
    text_fields
        Text fields whose character surprise counts.
    threshold
        The anomaly threshold (only decides when the culprit field is worked out).
    numeric_fields, group_field
        For a stream a contract declares: see
        :class:`~streamguard.anomaly.record.RecordScorer`.
    """

    def __init__(
        self,
        stream: str,
        *,
        text_fields: Sequence[str] = (),
        threshold: float = 0.9,
        numeric_fields: Sequence[str] | None = None,
        group_field: str | None = None,
    ) -> None:
        self.stream = stream
        self.scorer = RecordScorer(
            stream,
            text_fields=text_fields,
            threshold=threshold,
            numeric_fields=numeric_fields,
            group_field=group_field,
        )

    def on_decoded(self, record: dict[str, Any], source: Any) -> None:
        """Nothing: scoring needs the repaired record."""

    def on_clean(self, record: dict[str, Any], source: Any) -> None:
        """Stamp ``_dq.anomaly_score``."""
        record["_dq"]["anomaly_score"] = self.scorer.score_and_learn(record).score

    def on_outcome(self, outcome: Outcome) -> None:
        """Nothing: decisions are counted elsewhere."""
