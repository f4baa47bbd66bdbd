"""A shipped stream's JSON Schema as an ODCS v3 contract (``streamguard contract export``).

Editing the exported file and passing it back with ``--contracts`` is the supported way
to change the shipped rules: loaded again, it gives the same decisions as the shipped
schema. Each JSON Schema property becomes an ODCS property (type, lengths, pattern,
range, allowed values, required); the cross-field rules (``product_id`` unless a search,
price, currency and quantity on cart and purchase events) become a quality rule of
``type: custom``, ``engine: jsonschema`` that StreamGuard evaluates.

>>> contract = export_contract("product", topic="events.product")
>>> contract["apiVersion"], contract["schema"][0]["name"], contract["schema"][0]["physicalName"]
('v3.1.0', 'product', 'events.product')
>>> [p["name"] for p in contract["schema"][0]["properties"] if p.get("required")]
['event_id', 'product_id', 'op', 'ts']
"""

from __future__ import annotations

from typing import Any

import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from streamguard.contracts.contract import SHIPPED_STREAMS
from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PRICED_EVENT_TYPES
from streamguard.events.schema_files import schema_for

__all__ = ["API_VERSION", "export_contract", "to_yaml"]

#: The ODCS version StreamGuard writes.
API_VERSION = "v3.1.0"

_FILES = {"behavior": "behavior.v1.json", "product": "product.v1.json"}
_OPTION_KEYS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
)


def export_contract(stream: str, *, topic: str | None = None) -> dict[str, Any]:
    """The ODCS document (a dict, validated by the standard's model) for ``stream``."""
    if stream not in _FILES:
        raise ValueError(f"unknown stream {stream!r}: expected one of {sorted(_FILES)}")
    schema = schema_for(_FILES[stream])
    key, ident, _ = SHIPPED_STREAMS[stream]
    required = set(schema.get("required", []))
    properties = [
        _property(name, spec, name in required, key=name == key, ident=name == ident)
        for name, spec in schema["properties"].items()
    ]
    obj: dict[str, Any] = {
        "name": stream,
        "physicalType": "topic",
        "description": schema.get("description", f"{stream} events"),
        "properties": properties,
    }
    if topic is not None:
        obj["physicalName"] = topic
    if stream == "behavior":
        obj["quality"] = [
            {
                "name": "conditional_fields",
                "description": (
                    "fields an event must carry because of its event_type (add a new"
                    " event_type to these lists when it needs them too)"
                ),
                "type": "custom",
                "engine": "jsonschema",
                "implementation": {"allOf": _behavior_conditions()},
            }
        ]
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": f"streamguard-{stream}",
        "name": f"StreamGuard {stream} events",
        "version": "1.0.0",
        "status": "active",
        "description": {"purpose": f"The shipped {_FILES[stream]} schema of StreamGuard."},
        "schema": [obj],
    }
    OpenDataContractStandard.model_validate(document)  # the standard's model accepts it
    return document


def _present(*names: str) -> dict[str, Any]:
    return {
        "required": list(names),
        "properties": {name: {"not": {"type": "null"}} for name in names},
    }


def _when(values: list[str], then: dict[str, Any]) -> dict[str, Any]:
    """``then`` applies when ``event_type`` is one of ``values`` (as the model's rule:
    an unknown or absent event_type requires nothing more)."""
    return {
        "if": {"properties": {"event_type": {"enum": values}}, "required": ["event_type"]},
        "then": then,
    }


def _behavior_conditions() -> list[dict[str, Any]]:
    others = [t for t in BEHAVIOR_EVENT_TYPES if t != "search"]
    priced = [t for t in BEHAVIOR_EVENT_TYPES if t in PRICED_EVENT_TYPES]
    return [
        _when(["search"], _present("query")),
        _when(others, _present("product_id")),
        _when(priced, _present("price", "currency", "quantity")),
    ]


def to_yaml(document: dict[str, Any]) -> str:
    """The document as YAML, keys in the order written."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _property(
    name: str, spec: dict[str, Any], required: bool, *, key: bool, ident: bool
) -> dict[str, Any]:
    branches = spec.get("anyOf")
    if branches is not None:
        non_null = [b for b in branches if b.get("type") != "null"]
        timestamp = len(non_null) == 2 and {b.get("type") for b in non_null} == {
            "string",
            "integer",
        }
        body = non_null[0] if len(non_null) == 1 else {}
    else:
        timestamp = False
        body = spec
    prop: dict[str, Any] = {"name": name}
    if timestamp:
        prop["logicalType"] = "timestamp"
        prop["description"] = "RFC 3339 timestamp with zone, or epoch milliseconds"
    else:
        kind = body.get("type")
        if isinstance(kind, str):
            prop["logicalType"] = kind
        options = {k: body[k] for k in _OPTION_KEYS if k in body}
        if options:
            prop["logicalTypeOptions"] = options
        if "enum" in body:
            prop["enum"] = [{"value": value} for value in body["enum"]]
        description = body.get("description") or spec.get("description")
        if description:
            prop["description"] = description
    if required:
        prop["required"] = True
    if key:
        prop["partitioned"] = True
        prop["partitionKeyPosition"] = 1
    if ident:
        prop["primaryKey"] = True
        prop["primaryKeyPosition"] = 1
    return prop
