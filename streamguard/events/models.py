"""Pydantic v2 models of the declared event schemas: the authority on types and ranges.

The JSON Schema files in ``schemas/`` are generated from these models
(``python -m streamguard.events.schema_files``) and a test checks they agree.

Models are strict (no silent coercion of ``"12.5"`` to ``12.5``): coercions are the
repair step's job, so every change to a record is recorded as a correction. Unknown
fields are allowed and pass through untouched.

Examples
--------
>>> e = BehaviorEvent.model_validate({"event_id": "e1", "event_type": "view",
...     "user_id": "u1", "product_id": "p1", "ts": 1700000000000})
>>> e.ts.isoformat()
'2023-11-14T22:13:20+00:00'
>>> BehaviorEvent.model_validate({"event_id": "e2", "event_type": "search",
...     "user_id": "u1", "ts": "2026-01-01T00:00:00Z"}).query is None
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for BehaviorEvent
  Value error, query is required for event_type 'search' ...
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "BEHAVIOR_EVENT_TYPES",
    "CURRENCIES",
    "PLATFORMS",
    "PRODUCT_OPS",
    "RFC3339",
    "BehaviorEvent",
    "EventTime",
    "ProductEvent",
    "missing_conditional_fields",
    "parse_event_time",
]

BEHAVIOR_EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "search")
PLATFORMS = ("web", "ios", "android")
PRODUCT_OPS = ("upsert", "delete")
#: Epoch numbers below this are seconds, not milliseconds (1e11 ms is 1973-03-03).
EPOCH_MILLIS_MIN = 100_000_000_000
#: Event types that must carry price, currency and quantity.
PRICED_EVENT_TYPES = frozenset({"add_to_cart", "purchase"})
#: ISO 4217 currency codes (from pycountry's copy of the standard).
CURRENCIES: Final = frozenset(currency.alpha_3 for currency in pycountry.currencies)
#: RFC 3339 date-time with a zone: what the schemas' ``format: date-time`` means.
#: ``datetime.fromisoformat`` also takes ISO 8601 forms RFC 3339 excludes (basic format
#: ``20261101T100000Z``, week dates, a space separator, ``+0530``, no seconds).
RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def parse_event_time(value: Any) -> datetime:
    """Parse ``ts``: an RFC 3339 string with a zone, or epoch milliseconds.

    Naive strings and epoch seconds are rejected here: the repair step turns them into
    valid values and records the correction.

    >>> parse_event_time("2026-11-01T10:00:00+01:00").isoformat()
    '2026-11-01T09:00:00+00:00'
    >>> parse_event_time(1_700_000_000)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticCustomError: epoch number 1700000000 is below 1e11: ...
    """
    if isinstance(value, bool):
        raise PydanticCustomError("invalid_type", "ts must be a string or epoch millis")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PydanticCustomError("invalid_timestamp", "ts is not a finite number")
        if isinstance(value, float) and not value.is_integer():
            raise PydanticCustomError(
                "invalid_timestamp",
                "epoch millis must be a whole number, not {value}",
                {"value": value},
            )
        if value < EPOCH_MILLIS_MIN:
            raise PydanticCustomError(
                "invalid_timestamp",
                "epoch number {value} is below 1e11: seconds, not milliseconds",
                {"value": value},
            )
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise PydanticCustomError("invalid_timestamp", "ts out of range") from exc
    if isinstance(value, str):
        if len(value) > 64:
            raise PydanticCustomError("invalid_timestamp", "ts string too long")
        if not RFC3339.match(value):
            # Naive strings get their own message: the repair step fixes those.
            naive = RFC3339.match(value + "Z") is not None
            raise PydanticCustomError(
                "invalid_timestamp",
                "ts has no time zone" if naive else "ts is not an RFC 3339 timestamp",
            )
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError as exc:  # e.g. month 13
            raise PydanticCustomError(
                "invalid_timestamp", "ts is not an RFC 3339 timestamp"
            ) from exc
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # e.g. year 1 with a positive offset
            raise PydanticCustomError("invalid_timestamp", "ts out of range") from exc
    raise PydanticCustomError("invalid_type", "ts must be a string or epoch millis")


EventTime = Annotated[
    datetime,
    PlainValidator(parse_event_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time", "pattern": RFC3339.pattern},
                {"type": "integer", "minimum": EPOCH_MILLIS_MIN},
            ],
            "description": "RFC 3339 timestamp with zone, or epoch milliseconds",
        }
    ),
]
Id = Annotated[str, Field(min_length=1, max_length=256)]


def _iso_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise PydanticCustomError(
            "unknown_currency", "'{value}' is not an ISO 4217 currency code", {"value": value}
        )
    return value


def _whole_number(value: Any) -> Any:
    """JSON Schema's ``integer`` includes ``2.0``: take integral floats as ints so the
    model and the schema agree (the repair step still rewrites them, recorded)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Currency = Annotated[
    str,
    AfterValidator(_iso_currency),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES), "description": "ISO 4217 code"}),
]
Whole = BeforeValidator(_whole_number)
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]

_MODEL_CONFIG = ConfigDict(strict=True, extra="allow", frozen=True)


def missing_conditional_fields(record: dict[str, Any]) -> list[str]:
    """Fields a behaviour event must carry because of its ``event_type``.

    ``price`` may still be filled from the catalogue before this is asked.

    >>> missing_conditional_fields({"event_type": "purchase", "product_id": "p"})
    ['price', 'currency', 'quantity']
    """
    event_type = record.get("event_type")
    needed: list[str] = []
    if event_type == "search":
        needed.append("query")
    elif event_type in BEHAVIOR_EVENT_TYPES:
        needed.append("product_id")
    if isinstance(event_type, str) and event_type in PRICED_EVENT_TYPES:  # may be a list
        needed += ["price", "currency", "quantity"]
    return [name for name in needed if record.get(name) is None]


class BehaviorEvent(BaseModel):
    """A user's action: view, click, add/remove cart, purchase or search (behavior.v1)."""

    model_config = _MODEL_CONFIG

    event_id: Id
    event_type: Literal["view", "click", "add_to_cart", "remove_from_cart", "purchase", "search"]
    user_id: Id
    ts: EventTime
    session_id: Id | None = None
    product_id: Id | None = None
    query: Annotated[str, Field(max_length=2048)] | None = None
    price: Price | None = None
    currency: Currency | None = None
    quantity: Annotated[int, Field(ge=1, le=1_000_000), Whole] | None = None
    platform: Literal["web", "ios", "android"] | None = None
    schema_version: Annotated[int, Field(ge=1), Whole] | None = None

    @model_validator(mode="after")
    def _conditional_fields(self) -> BehaviorEvent:
        missing = missing_conditional_fields(self.__dict__)
        if missing:
            raise ValueError(f"{', '.join(missing)} is required for event_type {self.event_type!r}")
        return self


class ProductEvent(BaseModel):
    """A catalogue change: upsert or delete of one product (product.v1)."""

    model_config = _MODEL_CONFIG

    event_id: Id
    product_id: Id
    op: Literal["upsert", "delete"]
    ts: EventTime
    title: Annotated[str, Field(max_length=1024)] | None = None
    description: Annotated[str, Field(max_length=65_536)] | None = None
    category: (
        Annotated[str, Field(pattern=r"^[^/\s][^/]*(/[^/\s][^/]*)*$", max_length=512)] | None
    ) = None
    brand: Annotated[str, Field(max_length=256)] | None = None
    price: Price | None = None
    currency: Currency | None = None
    stock: Annotated[int, Field(ge=0), Whole] | None = None
    attributes: dict[str, Any] | None = None
    schema_version: Annotated[int, Field(ge=1), Whole] | None = None
