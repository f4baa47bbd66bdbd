"""Validation of one repaired record against its stream's pydantic model.

Missing required (and, for behaviour events, conditionally required) fields are
reported by name first; type errors on the other fields are reported too, one reason
per field, in the fixed vocabulary of
:func:`~streamguard.validate.reasons.reasons_from_validation_error`.

Examples
--------
>>> validator = SchemaValidator("product")
>>> model, reasons = validator.validate({"event_id": "e1", "op": "upsert", "stock": -1})
>>> model is None, [(r.code, r.field) for r in reasons]
(True, [('missing_field', 'product_id'), ('missing_field', 'ts'), ('out_of_range', 'stock')])
>>> model, reasons = validator.validate(
...     {"event_id": "e1", "product_id": "p1", "op": "delete", "ts": "2026-01-01T00:00:00Z"})
>>> type(model).__name__, reasons
('ProductEvent', [])
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from streamguard.events.models import BehaviorEvent, ProductEvent, missing_conditional_fields
from streamguard.events.records import Reason
from streamguard.validate.reasons import reasons_from_validation_error

__all__ = ["MODELS", "SchemaValidator", "StreamName"]

StreamName = Literal["behavior", "product"]

#: The pydantic model of each stream.
MODELS: dict[str, type[BaseModel]] = {"behavior": BehaviorEvent, "product": ProductEvent}


class SchemaValidator:
    """Validates records of one stream (``"behavior"`` or ``"product"``)."""

    def __init__(self, stream: StreamName) -> None:
        if stream not in MODELS:
            raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
        self.stream = stream
        self._model = MODELS[stream]
        self._conditional = stream == "behavior"
        self._required = tuple(
            name for name, info in self._model.model_fields.items() if info.is_required()
        )

    def validate(self, record: dict[str, Any]) -> tuple[Any, list[Reason]]:
        """The validated model (None if invalid) and the reasons it is invalid."""
        reasons = [
            Reason("missing_field", name, f"{name} is required")
            for name in self._required
            if record.get(name) is None
        ]
        if self._conditional:
            reasons += [
                Reason("missing_field", name, f"{name} is required for {record['event_type']}")
                for name in missing_conditional_fields(record)
            ]
        if reasons:
            # Type errors on the remaining fields are worth reporting too.
            known = {r.field for r in reasons}
            try:
                self._model.model_validate(record)
            except ValidationError as exc:
                reasons += [
                    r
                    for r in reasons_from_validation_error(exc)
                    if r.field and r.field not in known and r.code != "missing_field"
                ]
            return None, reasons
        try:
            return self._model.model_validate(record), []
        except ValidationError as exc:
            return None, reasons_from_validation_error(exc)
