"""An ODCS v3 schema object, translated into the checks StreamGuard runs on one record.

Each property becomes a JSON Schema fragment: ``logicalType`` gives the type,
``logicalTypeOptions`` the lengths, pattern and ranges, ``enum`` the allowed values,
``required: true`` a required field (null counts as missing), nested ``properties`` and
``items`` nested schemas. A property that is not required may be null.
``timestamp`` properties hold RFC 3339 text or epoch milliseconds, like the shipped
``ts``. Quality rules StreamGuard can decide on one record are folded in:

- ``metric: invalidValues`` with ``arguments.validValues`` / ``arguments.pattern`` and
  ``mustBe: 0`` narrows the allowed values or adds a pattern;
- ``metric: nullValues`` / ``missingValues`` with ``mustBe: 0`` makes the field required;
- ``metric: duplicateValues`` with ``mustBe: 0`` on the id field is the dedupe check;
- ``type: custom`` with ``engine: jsonschema`` adds its ``implementation`` (a JSON
  Schema) to the property's or the record's checks.

Every other rule (row counts, SQL, text, other engines, thresholds over many records)
is listed in :attr:`Translation.unsupported`, never silently dropped. A property's
custom property ``pii`` (``report``, ``mask`` or ``quarantine``) is its PII policy.

>>> t = translate_object({"name": "orders", "properties": [
...     {"name": "order_id", "logicalType": "string", "required": True, "primaryKey": True,
...      "partitioned": True},
...     {"name": "amount", "logicalType": "number", "logicalTypeOptions": {"minimum": 0}},
...     {"name": "status", "logicalType": "string", "enum": [{"value": "new"}, {"value": "paid"}]},
...     {"name": "ts", "logicalType": "timestamp", "required": True}],
...     "quality": [{"type": "sql", "query": "SELECT 1"}]})
>>> t.json_schema["properties"]["amount"], t.json_schema["properties"]["status"]["enum"]
({'type': ['number', 'null'], 'minimum': 0}, ['new', 'paid', None])
>>> t.required, t.key_field, t.id_field, t.time_field, t.problems
(('order_id', 'ts'), 'order_id', 'order_id', 'ts', [])
>>> t.unsupported
('record: quality rule #1 (type sql): not evaluated per record',)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Path", "Translation", "translate_object"]

#: A location in the contract document (keys and list indexes), for error lines.
Path = tuple[str | int, ...]

_JSON_TYPES: dict[str, str | list[str] | None] = {
    "string": "string",
    "date": "string",
    "time": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "map": "object",
    "array": "array",
    "vector": "array",
    "timestamp": ["string", "number"],
}
_OPTIONS: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern", "format"}),
    "integer": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "format"}
    ),
    "array": frozenset({"minItems", "maxItems", "uniqueItems"}),
    "object": frozenset({"minProperties", "maxProperties"}),
}
_OPTIONS["number"] = _OPTIONS["integer"]
_OPTIONS["vector"] = _OPTIONS["array"]
_OPTIONS["map"] = _OPTIONS["object"]
# Options that describe how a value is written, not which values are allowed.
_DESCRIPTIVE = frozenset({"format"})
# A property's custom property naming its PII action (Settings.pii_policy's vocabulary).
_PII_PROPERTIES = frozenset({"pii", "streamguard.pii"})
_PII_ACTIONS = ("report", "mask", "quarantine")
_ZERO_METRICS = frozenset({"nullValues", "missingValues", "invalidValues", "duplicateValues"})


@dataclass
class Translation:
    """What a schema object means for one record (see module docs); ``problems`` are
    ``(path, message)`` pairs that make the contract invalid."""

    json_schema: dict[str, Any]
    fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    formatted: tuple[str, ...] = ()
    key_field: str | None = None
    id_field: str | None = None
    time_field: str | None = None
    unsupported: tuple[str, ...] = ()
    classifications: dict[str, str] = field(default_factory=dict)
    pii: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)


class _Context:
    def __init__(self) -> None:
        self.unsupported: list[str] = []
        self.problems: list[tuple[Path, str]] = []
        self.timestamps: list[str] = []
        self.formatted: list[str] = []
        self.classifications: dict[str, str] = {}
        self.pii: dict[str, str] = {}


def translate_object(obj: dict[str, Any], path: Path = ()) -> Translation:
    """Translate one ODCS ``schema`` object (a dict as the model dumps it, by alias)."""
    ctx = _Context()
    schema, required = _object_schema(obj.get("properties") or [], path, "", ctx)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    extra = _quality(obj.get("quality") or [], (*path, "quality"), "record", None, ctx)
    if extra.all_of:
        schema["allOf"] = extra.all_of
    props = obj.get("properties") or []
    names = tuple(str(p.get("name")) for p in props)
    key = _flagged(props, "partitioned", "partitionKeyPosition")
    ident = _flagged(props, "primaryKey", "primaryKeyPosition")
    required_ts = [
        str(p["name"]) for p in props if p.get("logicalType") == "timestamp" and p.get("required")
    ]
    return Translation(
        json_schema=schema,
        fields=names,
        required=tuple(required),
        timestamps=tuple(ctx.timestamps),
        formatted=tuple(ctx.formatted),
        key_field=key,
        id_field=ident,
        time_field=required_ts[0] if required_ts else None,
        unsupported=tuple(ctx.unsupported),
        classifications=ctx.classifications,
        pii=ctx.pii,
        problems=ctx.problems,
    )


def _flagged(props: Sequence[dict[str, Any]], flag: str, position: str) -> str | None:
    flagged = [p for p in props if p.get(flag)]
    flagged.sort(key=lambda p: _position(p.get(position)))
    return str(flagged[0]["name"]) if flagged else None


def _position(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _object_schema(
    props: Sequence[dict[str, Any]], path: Path, prefix: str, ctx: _Context
) -> tuple[dict[str, Any], list[str]]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for index, prop in enumerate(props):
        prop_path = (*path, "properties", index)
        name = prop.get("name")
        if not isinstance(name, str) or not name:
            ctx.problems.append((prop_path, "a property needs a name"))
            continue
        if name in properties:
            ctx.problems.append(((*prop_path, "name"), f"property {name!r} is declared twice"))
            continue
        dotted = f"{prefix}{name}"
        is_required = bool(prop.get("required"))
        fragment = _property(prop, prop_path, dotted, ctx)
        if fragment.pop("_required", False):
            is_required = True
        if is_required:
            required.append(name)
        elif "type" in fragment:
            kinds = fragment["type"] if isinstance(fragment["type"], list) else [fragment["type"]]
            fragment["type"] = [*kinds, "null"]
            if "enum" in fragment:
                fragment["enum"] = [*fragment["enum"], None]
        properties[name] = fragment
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = True
    return schema, required


def _property(prop: dict[str, Any], path: Path, dotted: str, ctx: _Context) -> dict[str, Any]:
    logical = prop.get("logicalType")
    fragment: dict[str, Any] = {}
    if logical is not None:
        if logical not in _JSON_TYPES:
            ctx.problems.append(((*path, "logicalType"), f"unknown logicalType {logical!r}"))
            return fragment
        fragment["type"] = _JSON_TYPES[logical]
        if logical == "timestamp":
            ctx.timestamps.append(dotted)
        elif logical in ("date", "time"):
            ctx.formatted.append(dotted)
    options = prop.get("logicalTypeOptions") or {}
    allowed = _OPTIONS.get(str(logical), frozenset())
    for option, value in options.items():
        if option not in allowed:
            if logical in ("date", "timestamp", "time") and option in _DATE_OPTIONS:
                continue  # format / bounds of dates: described, not checked per record
            ctx.problems.append(
                (
                    (*path, "logicalTypeOptions", option),
                    f"logicalTypeOptions.{option} does not apply to logicalType {logical!r}",
                )
            )
            continue
        if option in _DESCRIPTIVE:
            ctx.formatted.append(dotted)
            continue
        if option == "pattern" and not _compiles(value):
            ctx.problems.append(
                ((*path, "logicalTypeOptions", option), f"pattern {value!r} is not a regex")
            )
            continue
        fragment[option] = value
    enum = prop.get("enum")
    if enum:
        fragment["enum"] = [item.get("value") for item in enum]
    classification = prop.get("classification")
    if isinstance(classification, str):
        ctx.classifications[dotted] = classification
    for index, custom in enumerate(prop.get("customProperties") or []):
        if custom.get("property") in _PII_PROPERTIES:
            action = custom.get("value")
            if action not in _PII_ACTIONS:
                ctx.problems.append(
                    (
                        (*path, "customProperties", index, "value"),
                        f"pii must be one of {', '.join(_PII_ACTIONS)}, not {action!r}",
                    )
                )
            else:
                ctx.pii[dotted] = str(action)
    if logical in ("object", "map") and prop.get("properties"):
        nested, _ = _object_schema(prop["properties"], path, f"{dotted}.", ctx)
        fragment.update({k: v for k, v in nested.items() if k != "type"})
    if logical in ("array", "vector") and prop.get("items"):
        items = _property(prop["items"], (*path, "items"), f"{dotted}[]", ctx)
        items.pop("_required", None)
        fragment["items"] = items
    rules = _quality(prop.get("quality") or [], (*path, "quality"), dotted, prop, ctx)
    if rules.valid_values is not None:
        current = fragment.get("enum")
        fragment["enum"] = (
            rules.valid_values
            if current is None
            else [v for v in current if v in rules.valid_values]
        )
    if rules.all_of:
        fragment["allOf"] = rules.all_of
    if rules.required:
        fragment["_required"] = True
    return fragment


_DATE_OPTIONS = frozenset(
    {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "timezone"}
)


def _compiles(pattern: Any) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


@dataclass
class _Rules:
    valid_values: list[Any] | None = None
    all_of: list[dict[str, Any]] = field(default_factory=list)
    required: bool = False


def _quality(
    rules: Sequence[dict[str, Any]],
    path: Path,
    where: str,
    prop: dict[str, Any] | None,
    ctx: _Context,
) -> _Rules:
    out = _Rules()
    for index, rule in enumerate(rules):
        rule_path = (*path, index)
        label = rule.get("name") or rule.get("id") or f"#{index + 1}"
        kind = rule.get("type") or ("library" if rule.get("metric") or rule.get("rule") else "text")
        metric = rule.get("metric") or rule.get("rule")
        if kind == "custom" and str(rule.get("engine", "")).lower() == "jsonschema":
            implementation = rule.get("implementation")
            if isinstance(implementation, str):
                try:
                    implementation = orjson.loads(implementation)
                except orjson.JSONDecodeError:
                    implementation = None
            if not isinstance(implementation, dict):
                ctx.problems.append(
                    (
                        (*rule_path, "implementation"),
                        "a jsonschema rule's implementation must be a JSON Schema object",
                    )
                )
                continue
            out.all_of.append(implementation)
            continue
        zero = _only_must_be_zero(rule)
        if kind == "library" and metric in _ZERO_METRICS and zero and prop is not None:
            arguments = rule.get("arguments") or {}
            if metric in ("nullValues", "missingValues"):
                out.required = True
                continue
            if metric == "invalidValues" and ("validValues" in arguments or "pattern" in arguments):
                if "validValues" in arguments:
                    values = list(arguments["validValues"])
                    out.valid_values = (
                        values
                        if out.valid_values is None
                        else [v for v in out.valid_values if v in values]
                    )
                if "pattern" in arguments:
                    if not _compiles(arguments["pattern"]):
                        ctx.problems.append(
                            ((*rule_path, "arguments", "pattern"), "pattern is not a regex")
                        )
                        continue
                    out.all_of.append({"pattern": arguments["pattern"]})
                continue
            if metric == "duplicateValues" and prop.get("primaryKey"):
                continue  # the dedupe check on the id field
        detail = f"type {kind}" + (f", metric {metric}" if metric else "")
        if rule.get("engine"):
            detail += f", engine {rule['engine']}"
        ctx.unsupported.append(
            f"{where}: quality rule {label} ({detail}): not evaluated per record"
        )
    return out


def _only_must_be_zero(rule: dict[str, Any]) -> bool:
    operators = {key for key in rule if key.startswith("must") and rule[key] is not None}
    return (
        operators <= {"mustBe"}
        and rule.get("mustBe", 0) == 0
        and rule.get("unit")
        in (
            None,
            "rows",
            "percent",
        )
    )
