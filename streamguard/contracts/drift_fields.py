"""The drift engine's fields of a stream declared only in a contract, from its schema.

A contract's JSON Schema (:mod:`streamguard.contracts.translate`) says each top-level
field's type; from it:

* **text** fields: strings without allowed values (``enum``) or a ``pattern``, that are
  not the key, the id, a timestamp, a formatted string (date, time, ``email``, ``uuid``
  ...), an identifier by name (``id``, ``*_id``) or a PII field: free text, embedded for
  semantic drift, language, strays and gradual drift, and scored for novelty;
* **numeric** fields: integers and numbers, except the key, the id and timestamps;
* the **group** field: the first string field with at most ``max_group_values`` allowed
  values (``event_type``-like), grouping schema-drift counts and numeric statistics.

Field names come from the contract (bounded configuration), so metric labels stay
bounded.

>>> from streamguard.contracts.translate import translate_object
>>> t = translate_object({"name": "orders", "properties": [
...     {"name": "order_id", "logicalType": "string", "required": True, "primaryKey": True,
...      "partitioned": True},
...     {"name": "customer_id", "logicalType": "string"},
...     {"name": "status", "logicalType": "string", "enum": [{"value": "new"}, {"value": "paid"}]},
...     {"name": "amount", "logicalType": "number"},
...     {"name": "note", "logicalType": "string"},
...     {"name": "day", "logicalType": "date"},
...     {"name": "ts", "logicalType": "timestamp", "required": True}]})
>>> fields = schema_fields(t.json_schema, exclude=("order_id", "ts", *t.formatted))
>>> fields.text, fields.numeric, fields.group_field, fields.group_values
(('note',), ('amount',), 'status', ('new', 'paid'))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streamguard.contracts.contract import StreamContract
from streamguard.drift.stream_fields import StreamFields

__all__ = ["drift_fields", "new_stream_fields", "schema_fields"]

#: At most this many allowed values make a string field the group field.
MAX_GROUP_VALUES = 32


def _types(fragment: Mapping[str, Any]) -> set[str]:
    kinds = fragment.get("type")
    if isinstance(kinds, str):
        return {kinds}
    return {str(kind) for kind in kinds} if isinstance(kinds, list) else set()


def _identifier(name: str) -> bool:
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id") or name.endswith("Id")


def schema_fields(
    json_schema: Mapping[str, Any],
    *,
    exclude: Iterable[str] = (),
    max_group_values: int = MAX_GROUP_VALUES,
) -> StreamFields:
    """The :class:`StreamFields` of a record schema; ``exclude``: fields that are neither
    text nor numeric (key, id, timestamps, formatted and PII fields)."""
    skipped = frozenset(exclude)
    properties: Mapping[str, Any] = json_schema.get("properties") or {}
    text: list[str] = []
    numeric: list[str] = []
    group_field: str | None = None
    group_values: tuple[str, ...] = ()
    for name, fragment in properties.items():
        if not isinstance(fragment, Mapping) or name in skipped:
            continue
        kinds = _types(fragment) - {"null"}
        enum = fragment.get("enum")
        if kinds == {"string"} and isinstance(enum, list):
            values = tuple(str(v) for v in enum if v is not None)
            if group_field is None and 0 < len(values) <= max_group_values:
                group_field, group_values = name, values
        elif kinds == {"string"}:
            if "pattern" not in fragment and not _identifier(name):
                text.append(name)
        elif kinds and kinds <= {"integer", "number"}:
            numeric.append(name)
    return StreamFields(
        declared=tuple(properties),
        text=tuple(text),
        numeric=tuple(numeric),
        group_field=group_field,
        group_values=group_values,
    )


def drift_fields(contract: StreamContract) -> StreamFields:
    """The drift engine's fields of ``contract``'s stream (see the module docs)."""
    exclude = [contract.key_field, *contract.timestamps, *contract.formatted, *contract.pii]
    for name in (contract.id_field, contract.time_field):
        if name is not None:
            exclude.append(name)
    return schema_fields(contract.json_schema, exclude=exclude)


def new_stream_fields(contracts: Mapping[str, StreamContract] | None) -> dict[str, StreamFields]:
    """:func:`drift_fields` of every stream only a contract declares, by stream."""
    return {c.stream: drift_fields(c) for c in (contracts or {}).values() if not c.shipped}
