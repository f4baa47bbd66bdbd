"""The JSON Schema of a contract, compiled into plain Python checks.

:mod:`jsonschema` walks the schema for every record (about 0.8 ms for a behaviour event
under the exported contract); the translator (:mod:`streamguard.contracts.translate`)
emits a small subset of JSON Schema, which this module compiles once into closures
with the same semantics (``integer`` takes ``2.0``, never ``True``; ``enum`` tells
``1`` from ``True``; lengths count code points; ``pattern`` searches). A fragment that
uses anything else (a ``type: custom``, ``engine: jsonschema`` rule's ``if`` / ``then``,
``not``, ``anyOf`` ...) is handed to :mod:`jsonschema` for that fragment only.

>>> check = compile_schema({"type": "object", "required": ["id"], "properties": {
...     "id": {"type": "string", "minLength": 1},
...     "qty": {"type": ["integer", "null"], "minimum": 1, "enum": [1, 2, 3, None]}}})
>>> [(e.path, e.keyword) for e in check({"qty": 0})]
[((), 'required'), (('qty',), 'minimum'), (('qty',), 'enum')]
>>> check({"id": "a", "qty": 2.0}), [e.keyword for e in check({"id": "a", "qty": True})]
([], ['type', 'enum'])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema

__all__ = ["SchemaError", "compile_schema"]


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One violation: where (keys and indexes), the JSON Schema keyword, a message, the
    offending value, and the keyword's value (``required``: the names)."""

    path: tuple[str | int, ...]
    keyword: str
    detail: str | Callable[[], str]  # text, or made only when read (``if`` discards most)
    instance: Any
    expected: Any = None

    @property
    def message(self) -> str:
        """What is wrong, in words."""
        return self.detail if isinstance(self.detail, str) else self.detail()


Check = Callable[[Any], list[SchemaError]]
_Node = Callable[[Any, tuple[str | int, ...], list[SchemaError]], None]

_KNOWN = frozenset(
    {
        "$schema",
        "type",
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "allOf",
        "if",
        "then",
        "else",
        "not",
        "const",
        "description",
        "title",
    }
)


def compile_schema(schema: dict[str, Any]) -> Check:
    """A function returning the violations of one instance (empty when it is valid)."""
    node = _compile(schema)

    def check(instance: Any) -> list[SchemaError]:
        errors: list[SchemaError] = []
        node(instance, (), errors)
        return errors

    return check


def _is_number(value: Any) -> bool:
    return (
        type(value) is int
        or type(value) is float
        or (isinstance(value, int | float) and not isinstance(value, bool))
    )


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


_EXACT: dict[str, type] = {
    "string": str,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}
_DECODED = frozenset({str, bool, int, float, dict, list, type(None)})


def _tag(value: Any) -> tuple[str, Any] | None:
    """A hashable key under which JSON Schema's ``enum`` equality is Python's."""
    if value is None:
        return ("z", None)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def _compile(schema: dict[str, Any]) -> _Node:
    if set(schema) - _KNOWN or not all(isinstance(k, str) for k in schema):
        return _fallback(schema)
    parts: list[_Node] = []
    for keyword, argument in schema.items():  # in the schema's order, as jsonschema does
        part = _keyword(keyword, argument, schema)
        if part is not None:
            parts.append(part)
    if len(parts) == 1:
        return parts[0]  # one call less per value
    first, rest = (parts[0], tuple(parts[1:])) if parts else (_nothing, ())

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        first(value, path, errors)
        for part in rest:
            part(value, path, errors)

    return node


def _nothing(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
    """The check of an empty schema: everything is valid."""


_BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "minimum": (lambda v, b: v >= b, "less than the minimum of"),
    "maximum": (lambda v, b: v <= b, "greater than the maximum of"),
    "exclusiveMinimum": (lambda v, b: v > b, "less than or equal to the minimum of"),
    "exclusiveMaximum": (lambda v, b: v < b, "greater than or equal to the maximum of"),
}
_SIZES: dict[str, tuple[type, str]] = {
    "minLength": (str, "short"),
    "maxLength": (str, "long"),
    "minItems": (list, "short"),
    "maxItems": (list, "long"),
    "minProperties": (dict, "few properties"),
    "maxProperties": (dict, "many properties"),
}


def _keyword(keyword: str, argument: Any, schema: dict[str, Any]) -> _Node | None:
    """The check of one keyword (None: nothing to check, as for ``description``)."""
    if keyword == "type":
        return _type(argument)
    if keyword == "enum":
        return _enum(argument)
    if keyword in _BOUNDS:
        test, words = _BOUNDS[keyword]
        return _bound(keyword, argument, test, words)
    if keyword == "multipleOf":
        return _multiple(argument)
    if keyword in _SIZES:
        kind, measure = _SIZES[keyword]
        return _size(keyword, argument, kind, measure)
    if keyword == "pattern":
        return _pattern(argument)
    if keyword == "uniqueItems":
        return _unique if argument else None
    if keyword == "required":
        return _required(list(argument))
    if keyword == "properties":
        return _properties({k: _compile(v) for k, v in argument.items()})
    if keyword == "items":
        return _items(_compile(argument))
    if keyword == "additionalProperties" and argument is not True:
        return _fallback(
            {"additionalProperties": argument, "properties": schema.get("properties", {})}
        )
    if keyword == "const":
        return _enum([argument], keyword="const")
    if keyword == "if":
        return _if(_compile(argument), schema.get("then"), schema.get("else"))
    if keyword == "not":
        return _not(_compile(argument), argument)
    if keyword == "allOf":
        subs = [_compile(sub) for sub in argument]

        def all_of(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
            for sub in subs:
                sub(value, path, errors)

        return all_of
    return None


def _type(kinds: str | list[str]) -> _Node:
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    tests = [_TYPES[name] for name in names]
    # The exact classes JSON decoding gives, for one set look-up per value.
    exact = {_EXACT[name] for name in names if name in _EXACT}
    if "integer" in names or "number" in names:
        exact |= {int, float}
    whole_floats_only = "integer" in names and "number" not in names

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        kind = type(value)
        if kind in exact and not (whole_floats_only and kind is float and not value.is_integer()):
            return
        if kind not in _DECODED and any(test(value) for test in tests):  # subclasses
            return
        if not any(test(value) for test in tests):
            shown = names[0] if len(names) == 1 else names
            message = lambda: f"{value!r} is not of type {shown!r}"  # noqa: E731
            errors.append(SchemaError(path, "type", message, value))

    return node


def _if(condition: _Node, then: Any, otherwise: Any) -> _Node:
    then_node = _compile(then) if isinstance(then, dict) else None
    else_node = _compile(otherwise) if isinstance(otherwise, dict) else None

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        failed: list[SchemaError] = []
        condition(value, path, failed)
        chosen = else_node if failed else then_node
        if chosen is not None:
            chosen(value, path, errors)

    return node


def _not(inner: _Node, schema: Any) -> _Node:
    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        failed: list[SchemaError] = []
        inner(value, path, failed)
        if not failed:
            message = lambda: f"{value!r} should not be valid under {schema!r}"  # noqa: E731
            errors.append(SchemaError(path, "not", message, value))

    return node


def _enum(values: list[Any], keyword: str = "enum") -> _Node:
    tagged = {t for t in map(_tag, values) if t is not None}
    others = [v for v in values if _tag(v) is None]

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        tag = _tag(value)
        if tag is not None and tag in tagged:
            return
        if tag is None and value in others:
            return
        message = lambda: f"{value!r} is not one of {values!r}"[:300]  # noqa: E731
        errors.append(SchemaError(path, keyword, message, value))

    return node


def _bound(keyword: str, bound: Any, test: Callable[[Any, Any], bool], words: str) -> _Node:
    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if _is_number(value) and not test(value, bound):
            message = lambda: f"{value!r} is {words} {bound!r}"  # noqa: E731
            errors.append(SchemaError(path, keyword, message, value))

    return node


def _multiple(step: Any) -> _Node:
    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if _is_number(value):
            quotient = value / step
            if not float(quotient).is_integer():
                message = lambda: f"{value!r} is not a multiple of {step!r}"  # noqa: E731
                errors.append(SchemaError(path, "multipleOf", message, value))

    return node


def _size(keyword: str, bound: int, kind: type, measure: str) -> _Node:
    at_least = keyword.startswith("min")

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if isinstance(value, kind):
            size = len(value)  # type: ignore[arg-type]  # str, list or dict
            if (size < bound) if at_least else (size > bound):
                message = lambda: f"{repr(value)[:80]} is too {measure}"  # noqa: E731
                errors.append(SchemaError(path, keyword, message, value))

    return node


def _pattern(pattern: str) -> _Node:
    search = re.compile(pattern).search

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if isinstance(value, str) and search(value) is None:
            message = lambda: f"{value[:80]!r} does not match {pattern!r}"  # noqa: E731
            errors.append(SchemaError(path, "pattern", message, value))

    return node


def _unique(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
    if isinstance(value, list):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                errors.append(SchemaError(path, "uniqueItems", "has non-unique elements", value))
                return
            seen.append(item)


def _required(names: list[str]) -> _Node:
    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if isinstance(value, dict):
            missing = [name for name in names if name not in value]
            if missing:
                message = lambda: f"{missing[0]!r} is a required property"  # noqa: E731
                errors.append(SchemaError(path, "required", message, value, missing))

    return node


def _properties(children: dict[str, _Node]) -> _Node:
    items = tuple(children.items())

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if isinstance(value, dict):
            get = value.get
            for name, child in items:
                if name in value:
                    child(get(name), (*path, name), errors)

    return node


def _items(child: _Node) -> _Node:
    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                child(item, (*path, index), errors)

    return node


def _fallback(schema: dict[str, Any]) -> _Node:
    """A fragment outside the compiled subset, checked by :mod:`jsonschema`."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema)

    def node(value: Any, path: tuple[str | int, ...], errors: list[SchemaError]) -> None:
        for error in _flatten(validator.iter_errors(value)):
            where = (*path, *error.absolute_path)
            expected = error.validator_value
            keyword = str(error.validator)
            errors.append(SchemaError(where, keyword, error.message, error.instance, expected))

    return node


def _flatten(errors: Iterator[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    """The most specific error of each composite (``anyOf`` and the like)."""
    for error in errors:
        while error.context:
            best = jsonschema.exceptions.best_match(error.context)
            if best is None:
                break
            error = best
        yield error
