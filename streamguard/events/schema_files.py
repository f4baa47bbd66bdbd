"""JSON Schema files in ``schemas/``, generated from the pydantic models.

The models are the single source of truth; ``python -m streamguard.events.schema_files``
rewrites the files, and a test fails when the committed files differ from what the
models generate.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from streamguard.events.models import BehaviorEvent, ProductEvent

__all__ = ["SCHEMAS", "render", "schema_for", "write_all"]

#: File name -> model.
SCHEMAS: dict[str, type[BaseModel]] = {
    "behavior.v1.json": BehaviorEvent,
    "product.v1.json": ProductEvent,
}


def _present(*names: str) -> dict[str, Any]:
    """Required and not null: the models treat a null conditional field as missing."""
    return {
        "required": list(names),
        "properties": {name: {"not": {"type": "null"}} for name in names},
    }


# Cross-field rules the models enforce in a validator, stated for JSON Schema users.
_CONDITIONAL: dict[str, list[dict[str, Any]]] = {
    "behavior.v1.json": [
        {
            "if": {"properties": {"event_type": {"const": "search"}}},
            "then": _present("query"),
            "else": _present("product_id"),
        },
        {
            "if": {"properties": {"event_type": {"enum": ["add_to_cart", "purchase"]}}},
            "then": _present("price", "currency", "quantity"),
        },
    ],
}


def schema_for(name: str) -> dict[str, Any]:
    """The JSON Schema document for one schema file name."""
    schema = SCHEMAS[name].model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://streamguard.dev/schemas/{name}",
        **schema,
        "additionalProperties": True,
    }
    if name in _CONDITIONAL:
        schema["allOf"] = _CONDITIONAL[name]
    return schema


def render(name: str) -> bytes:
    """The exact bytes of a schema file."""
    return orjson.dumps(schema_for(name), option=orjson.OPT_INDENT_2) + b"\n"


def write_all(directory: Path) -> list[Path]:
    """Write every schema file into ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / name
        path.write_bytes(render(name))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    for path in write_all(target):
        print(path)
