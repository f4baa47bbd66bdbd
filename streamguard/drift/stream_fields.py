"""Which fields of a stream the drift engine and the anomaly score look at.

The shipped streams (``behavior``, ``product``) have theirs built in
(:data:`~streamguard.drift.engine.TEXT_FIELDS` and the engine's groups,
:data:`~streamguard.anomaly.record.NUMERIC_FIELDS`); a stream declared only in a data
contract gets a :class:`StreamFields` derived from its schema
(:func:`streamguard.contracts.drift_fields.drift_fields`) and hands it to
:class:`~streamguard.drift.engine.DriftEngine`.

>>> fields = StreamFields(declared=("order_id", "amount", "status", "note"),
...     text=("note",), numeric=("amount",), group_field="status",
...     group_values=("new", "paid"))
>>> fields.text, fields.numeric, fields.group_field
(('note',), ('amount',), 'status')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StreamFields"]


@dataclass(frozen=True, slots=True)
class StreamFields:
    """The fields of one stream, by role.

    ``declared``: every top-level field (schema drift reports the others as new);
    ``text``: free-text fields, embedded for semantic drift and scored for novelty;
    ``numeric``: numeric features of the anomaly score; ``group_field``: a
    low-cardinality field whose value groups the schema-drift counts and the numeric
    statistics (``None``: one group), with its allowed ``group_values``.
    """

    declared: tuple[str, ...]
    text: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    group_field: str | None = None
    group_values: tuple[str, ...] = ()
