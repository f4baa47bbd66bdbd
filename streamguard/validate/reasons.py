"""Pydantic validation errors, translated into the fixed reason vocabulary.

Examples
--------
>>> from pydantic import ValidationError
>>> from streamguard.events.models import ProductEvent
>>> try:
...     ProductEvent.model_validate({"event_id": "e", "product_id": "p", "op": "merge",
...                                  "ts": "2026-01-01T00:00:00Z", "stock": -1})
... except ValidationError as exc:
...     [(r.code, r.field) for r in reasons_from_validation_error(exc)]
[('unknown_enum', 'op'), ('out_of_range', 'stock')]
"""

from __future__ import annotations

from pydantic import ValidationError

from streamguard.events.records import Reason

__all__ = ["reasons_from_validation_error"]

# pydantic error type -> reason code; anything else ending in "_type" is invalid_type.
_ERROR_CODES = {
    "missing": "missing_field",
    "literal_error": "unknown_enum",
    "unknown_currency": "unknown_enum",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "finite_number": "invalid_value",
    "invalid_type": "invalid_type",
    "int_from_float": "invalid_type",
}


def reasons_from_validation_error(error: ValidationError) -> list[Reason]:
    """Translate pydantic errors into the fixed reason vocabulary (one per field)."""
    reasons: list[Reason] = []
    seen: set[str | None] = set()
    for item in error.errors(include_url=False, include_input=False):
        loc = item["loc"]
        field = str(loc[0]) if loc else None
        if field in seen:
            continue  # unions report one error per branch: keep the first per field
        seen.add(field)
        kind = item["type"]
        code = _ERROR_CODES.get(kind) or ("invalid_type" if kind.endswith("_type") else None)
        reasons.append(Reason(code or "invalid_value", field, item["msg"][:200]))
    return reasons
