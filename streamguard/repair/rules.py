"""Repair rules: fix what a rule can fix, and record every change as a correction.

Rules run on the decoded record (a ``dict``) in place, before validation. Each rule is
conservative: it changes a value only when the intended value is unambiguous, and
leaves everything else for the validator to reject.

Examples
--------
>>> record = {"event_type": "Add To Cart", "price": " 12.50", "currency": " usd",
...           "platform": "iOS", "ts": 1700000000}
>>> [c.rule for c in repair_behavior(record, catalogue=None)]
['enum_normalize', 'numeric_string', 'currency_normalize', 'enum_normalize', 'ts_epoch_seconds']
>>> record["event_type"], record["price"], record["currency"], record["platform"], record["ts"]
('add_to_cart', 12.5, 'USD', 'ios', 1700000000000)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from streamguard.events.models import (
    BEHAVIOR_EVENT_TYPES,
    EPOCH_MILLIS_MIN,
    PLATFORMS,
    PRICED_EVENT_TYPES,
    PRODUCT_OPS,
    RFC3339,
)
from streamguard.events.records import Correction, format_ts

__all__ = [
    "Catalogue",
    "canonical_enum",
    "repair_behavior",
    "repair_product",
]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-_.]+")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Epoch seconds from 1973 on are >= 1e8; below that a number is more likely garbage.
_EPOCH_SECONDS_MIN = 100_000_000


class Catalogue(Protocol):
    """Read access to the latest known product records (product_id -> clean record)."""

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest clean product record, or None when unknown or deleted."""


def _compact(name: str) -> str:
    return name.replace("_", "")


_ENUMS: dict[str, dict[str, str]] = {
    "event_type": {_compact(v): v for v in BEHAVIOR_EVENT_TYPES},
    "platform": {_compact(v): v for v in PLATFORMS},
    "op": {_compact(v): v for v in PRODUCT_OPS},
}


def canonical_enum(value: str, allowed: Mapping[str, str]) -> str | None:
    """Map a spelling variant onto its canonical enum value, or None if it is no variant.

    >>> canonical_enum("addToCart", _ENUMS["event_type"])
    'add_to_cart'
    >>> canonical_enum("add-to-cart", _ENUMS["event_type"])
    'add_to_cart'
    >>> canonical_enum("teleport", _ENUMS["event_type"]) is None
    True
    """
    if len(value) > 64:
        return None
    words = _SEPARATORS.sub("", _CAMEL_BOUNDARY.sub("_", value.strip())).lower()
    return allowed.get(words)


def _fix_enum(record: dict[str, Any], name: str, fixes: list[Correction]) -> None:
    value = record.get(name)
    if not isinstance(value, str):
        return
    allowed = _ENUMS[name]
    if value in allowed.values():
        return
    canonical = canonical_enum(value, allowed)
    if canonical is not None:
        record[name] = canonical
        fixes.append(Correction(name, value, canonical, "enum_normalize"))


def _fix_ids(record: dict[str, Any], names: tuple[str, ...], fixes: list[Correction]) -> None:
    for name in names:
        value = record.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            record[name] = str(value)
            fixes.append(Correction(name, value, record[name], "id_to_string"))


def _fix_number(record: dict[str, Any], name: str, integral: bool, fixes: list[Correction]) -> None:
    value = record.get(name)
    if isinstance(value, str) and len(value) <= 32:
        text = value.strip()
        if integral and _INTEGER.match(text):
            record[name] = int(text)
        elif not integral and _DECIMAL.match(text):
            number = float(text)
            if number != number or number in (float("inf"), float("-inf")):
                return
            record[name] = number
        else:
            return
        fixes.append(Correction(name, value, record[name], "numeric_string"))
    elif integral and isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        record[name] = int(value)
        fixes.append(Correction(name, value, record[name], "integral_float"))


def _fix_currency(record: dict[str, Any], fixes: list[Correction]) -> None:
    value = record.get("currency")
    if isinstance(value, str) and not _CURRENCY.match(value):
        fixed = value.strip().upper()
        if _CURRENCY.match(fixed):
            record["currency"] = fixed
            fixes.append(Correction("currency", value, fixed, "currency_normalize"))


def _fix_ts(record: dict[str, Any], fixes: list[Correction]) -> None:
    value = record.get("ts")
    if isinstance(value, bool):
        return
    if isinstance(value, int | float) and _EPOCH_SECONDS_MIN <= value < EPOCH_MILLIS_MIN:
        fixed = int(round(value * 1000))
        record["ts"] = fixed
        fixes.append(Correction("ts", value, fixed, "ts_epoch_seconds"))
    elif isinstance(value, str) and 10 < len(value) <= 64 and not RFC3339.match(value):
        # A bare date (10 characters) is not a timestamp: left for validation to refuse.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return
        if parsed.tzinfo is None:
            # Naive: assume UTC, keeping the text when adding the zone makes it RFC 3339.
            fixed_text = value + "Z"
            if not RFC3339.match(fixed_text):
                fixed_text = format_ts(parsed.replace(tzinfo=UTC))
            rule = "ts_assume_utc"
        else:
            # ISO 8601 forms RFC 3339 excludes (basic format, week date, a space, +0530):
            # the same instant, written as RFC 3339 UTC.
            try:
                fixed_text = format_ts(parsed.astimezone(UTC))
            except OverflowError:
                return
            rule = "ts_normalize"
        record["ts"] = fixed_text
        fixes.append(Correction("ts", value, fixed_text, rule))


def repair_behavior(record: dict[str, Any], catalogue: Catalogue | None) -> list[Correction]:
    """Repair a decoded behaviour event in place; return the corrections made."""
    fixes: list[Correction] = []
    _fix_enum(record, "event_type", fixes)
    _fix_ids(record, ("event_id", "user_id", "session_id", "product_id"), fixes)
    _fix_number(record, "price", False, fixes)
    _fix_currency(record, fixes)
    _fix_number(record, "quantity", True, fixes)
    _fix_enum(record, "platform", fixes)
    _fix_ts(record, fixes)
    if (
        catalogue is not None
        and record.get("price") is None
        and isinstance(record.get("event_type"), str)
        and record["event_type"] in PRICED_EVENT_TYPES
        and isinstance(record.get("product_id"), str)
    ):
        _fill_price(record, catalogue, fixes)
    return fixes


def _fill_price(record: dict[str, Any], catalogue: Catalogue, fixes: list[Correction]) -> None:
    product = catalogue.get(record["product_id"])
    if product is None or product.get("price") is None:
        return
    currency, list_currency = record.get("currency"), product.get("currency")
    if currency is not None and list_currency is not None and currency != list_currency:
        return  # a list price in another currency is not this event's price
    record["price"] = product["price"]
    fixes.append(Correction("price", None, product["price"], "price_from_catalogue"))
    if record.get("currency") is None and product.get("currency") is not None:
        record["currency"] = product["currency"]
        fixes.append(Correction("currency", None, product["currency"], "price_from_catalogue"))


def repair_product(record: dict[str, Any]) -> list[Correction]:
    """Repair a decoded product event in place; return the corrections made.

    >>> r = {"op": "UPSERT", "price": "9.90", "stock": "3"}
    >>> [(c.field, c.rule) for c in repair_product(r)]
    [('op', 'enum_normalize'), ('price', 'numeric_string'), ('stock', 'numeric_string')]
    """
    fixes: list[Correction] = []
    _fix_enum(record, "op", fixes)
    _fix_ids(record, ("event_id", "product_id"), fixes)
    _fix_number(record, "price", False, fixes)
    _fix_currency(record, fixes)
    _fix_number(record, "stock", True, fixes)
    _fix_ts(record, fixes)
    return fixes
