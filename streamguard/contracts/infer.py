"""Draft an ODCS v3 contract from data: the inventory of a file, read as rules.

From a :class:`~streamguard.inventory.StreamProfile` snapshot, each top-level field
(nested objects and arrays too) becomes a property: its dominant JSON type (a field
tagged ``timestamp`` is a ``timestamp``), ``required`` when present and non-null in
(nearly) every object, the observed values as ``enum`` for a low-cardinality string,
and the observed range as ``minimum`` / ``maximum``. Fields holding personal data get
``classification: restricted`` and the custom property ``pii: report``. The draft is a
starting point to review, not a verdict: the data may have been wrong.

>>> from streamguard.inventory import StreamProfile
>>> profile = StreamProfile("orders")
>>> for i in range(200):
...     profile.learn_one({"order_id": f"o{i}", "status": ["new", "paid"][i % 2],
...                        "amount": 5 + i, "ts": 1_800_000_000_000 + i})
>>> doc = infer_contract(profile.snapshot(), "orders")
>>> props = {p["name"]: p for p in doc["schema"][0]["properties"]}
>>> props["status"]["enum"], props["amount"]["logicalTypeOptions"]
([{'value': 'new'}, {'value': 'paid'}], {'minimum': 5, 'maximum': 204})
>>> props["ts"]["logicalType"], props["order_id"].get("partitioned"), props["ts"]["required"]
('timestamp', True, True)
"""

from __future__ import annotations

from typing import Any

from open_data_contract_standard.model import OpenDataContractStandard

from streamguard.contracts.contract import SHIPPED_STREAMS
from streamguard.contracts.export import API_VERSION

__all__ = ["infer_contract"]

#: Presence at or above this (and no nulls) makes a field required.
REQUIRED_PRESENCE = 0.999
#: A string field with at most this many distinct values gets an ``enum``.
MAX_ENUM_VALUES = 20
_TYPES = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean"}


def infer_contract(
    snapshot: dict[str, Any], stream: str, *, topic: str | None = None
) -> dict[str, Any]:
    """The draft contract (validated by the standard's model) for one inventory snapshot."""
    fields = {f["path"]: f for f in snapshot["fields"]}
    objects = max(int(snapshot.get("objects") or 0), 1)
    shipped = SHIPPED_STREAMS.get(stream)
    properties = [
        _property(path, fields, objects)
        for path in sorted(fields)
        if "." not in path and "[]" not in path
    ]
    if shipped is not None:
        for prop in properties:
            if prop["name"] in shipped:
                prop["required"] = True
    key = shipped[0] if shipped is not None else _key(properties, fields)
    ident = shipped[1] if shipped is not None else None
    if shipped is None and key is not None and _unique(fields[key], objects):
        ident = key
    for prop in properties:
        if prop["name"] == key:
            prop.update({"required": True, "partitioned": True, "partitionKeyPosition": 1})
        if prop["name"] == ident:
            prop.update({"primaryKey": True, "primaryKeyPosition": 1})
    obj: dict[str, Any] = {
        "name": stream,
        "physicalType": "topic",
        "physicalName": topic or stream,
        "description": f"drafted from {snapshot.get('source') or 'data'}"
        f" ({snapshot.get('records', 0):,} records): review before use",
        "properties": properties,
    }
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": f"{stream}-draft",
        "name": f"{stream} (inferred)",
        "version": "0.1.0",
        "status": "draft",
        "schema": [obj],
    }
    if shipped is None:
        document["servers"] = [{"server": "kafka", "type": "kafka", "host": "localhost:9092"}]
    OpenDataContractStandard.model_validate(document)
    return document


def _key(properties: list[dict[str, Any]], fields: dict[str, dict[str, Any]]) -> str | None:
    """The required string field most confidently tagged as an identifier, else the
    first required string."""
    strings = [p for p in properties if p.get("required") and p.get("logicalType") == "string"]
    best: tuple[float, str] | None = None
    for prop in strings:
        for tag in fields[prop["name"]].get("tags") or []:
            if tag.get("tag") == "identifier" and (best is None or tag["confidence"] > best[0]):
                best = (float(tag["confidence"]), str(prop["name"]))
    if best is not None:
        return best[1]
    return str(strings[0]["name"]) if strings else None


def _unique(field: dict[str, Any], objects: int) -> bool:
    """Distinct values for (nearly) every record: an identity, fit for dedupe."""
    present = field.get("presence", 0.0) * objects
    return bool(present > 0 and int(field.get("distinct_estimate") or 0) >= 0.97 * present)


def _logical_type(field: dict[str, Any]) -> str | None:
    types = {k: v for k, v in (field.get("types") or {}).items() if k != "null"}
    tags = {t.get("tag") for t in field.get("tags") or [] if t.get("confidence", 0) >= 0.6}
    if "timestamp" in tags and set(types) <= {"string", "integer", "float"}:
        return "timestamp"
    if not types:
        return None
    if set(types) <= {"integer", "float"}:
        return "integer" if set(types) == {"integer"} else "number"
    kind, share = max(types.items(), key=lambda kv: kv[1])
    if share < 0.95:
        return None  # mixed types: leave the type open
    return _TYPES.get(kind, kind if kind in ("object", "array") else None)


def _property(path: str, fields: dict[str, dict[str, Any]], objects: int) -> dict[str, Any]:
    field = fields[path]
    prop: dict[str, Any] = {"name": path.rsplit(".", 1)[-1]}
    logical = _logical_type(field)
    if logical is not None:
        prop["logicalType"] = logical
    numeric = field.get("numeric")
    if logical in ("integer", "number") and numeric is not None:
        low, high = numeric["min"], numeric["max"]
        if logical == "integer":
            low, high = int(low), int(high)
        prop["logicalTypeOptions"] = {"minimum": low, "maximum": high}
    top = field.get("top_values") or []
    distinct = int(field.get("distinct_estimate") or 0)
    present = field.get("presence", 0.0) * objects
    if (
        logical == "string"
        and not field.get("pii")
        and 0 < distinct <= MAX_ENUM_VALUES
        and len(top) == distinct
        and distinct * 5 <= present
    ):
        prop["enum"] = [{"value": item["value"]} for item in sorted(top, key=lambda t: t["value"])]
    nulls = (field.get("types") or {}).get("null", 0.0)
    if field.get("presence", 0.0) >= REQUIRED_PRESENCE and not nulls:
        prop["required"] = True
    if field.get("pii"):
        prop["classification"] = "restricted"
        prop["customProperties"] = [{"property": "pii", "value": "report"}]
    children = sorted(
        p for p in fields if p.startswith(f"{path}.") and "." not in p[len(path) + 1 :]
    )
    if logical == "object" and children:
        prop["properties"] = [_property(child, fields, objects) for child in children]
    return prop
