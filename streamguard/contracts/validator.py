"""Validation of one record against a stream's contract, in StreamGuard's reason codes.

The contract's JSON Schema (:mod:`streamguard.contracts.translate`) decides, with the
same reason vocabulary as the shipped schemas: a required field that is absent or null
is ``missing_field``; a value outside ``enum`` is ``unknown_enum``; outside a range
``out_of_range``; of the wrong JSON type ``invalid_type``; a broken pattern, length or
timestamp ``invalid_value``. One reason per top-level field, missing fields first.

>>> from streamguard.contracts.translate import translate_object
>>> t = translate_object({"name": "orders", "properties": [
...     {"name": "order_id", "logicalType": "string", "required": True},
...     {"name": "qty", "logicalType": "integer", "logicalTypeOptions": {"minimum": 1}},
...     {"name": "ts", "logicalType": "timestamp", "required": True}]})
>>> contract = StreamContract(stream="orders", contract_id="c", version="1", hash="h",
...     file="f", shipped=False, topic="t", key_field="order_id", id_field=None,
...     time_field="ts", json_schema=t.json_schema, required=t.required,
...     timestamps=t.timestamps)
>>> validator = ContractValidator(contract)
>>> checked, reasons = validator.validate({"order_id": "o1", "qty": 2, "ts": 1_800_000_000_000})
>>> checked.ts.isoformat(), reasons
('2027-01-15T08:00:00+00:00', [])
>>> _, reasons = validator.validate({"qty": 0, "ts": "yesterday"})
>>> [(r.code, r.field) for r in reasons]
[('missing_field', 'order_id'), ('out_of_range', 'qty'), ('invalid_value', 'ts')]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import PydanticCustomError

from streamguard.contracts.compiled import SchemaError, compile_schema
from streamguard.contracts.contract import StreamContract
from streamguard.events.models import parse_event_time
from streamguard.events.records import Reason

__all__ = ["ContractValidator", "Validated"]

_CODES = {
    "enum": "unknown_enum",
    "const": "unknown_enum",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "exclusiveMinimum": "out_of_range",
    "exclusiveMaximum": "out_of_range",
    "type": "invalid_type",
    "required": "missing_field",
    "not": "missing_field",  # the shipped conditional rules: {"not": {"type": "null"}}
}


@dataclass(frozen=True, slots=True)
class Validated:
    """A record that satisfies its contract; ``ts``: its event time, when it has one."""

    ts: datetime | None


class ContractValidator:
    """Validates records of one stream against its :class:`StreamContract`."""

    def __init__(self, contract: StreamContract) -> None:
        self.contract = contract
        self._check = compile_schema(contract.json_schema)
        self._required = contract.required
        self._timestamps = tuple(name for name in contract.timestamps if "." not in name)
        self._time_field = contract.time_field

    def validate(self, record: dict[str, Any]) -> tuple[Validated | None, list[Reason]]:
        """The validated event (None if invalid) and the reasons it is invalid."""
        reasons = [
            Reason("missing_field", name, f"{name} is required")
            for name in self._required
            if record.get(name) is None
        ]
        seen = {r.field for r in reasons}
        for error in self._check(record):
            for reason in _reasons(error, record):
                if reason.field not in seen:
                    seen.add(reason.field)
                    reasons.append(reason)
        moments: dict[str, datetime] = {}
        for name in self._timestamps:
            value = record.get(name)
            if value is None or name in seen:
                continue
            try:
                moments[name] = parse_event_time(value)
            except PydanticCustomError as exc:
                code = "invalid_type" if exc.type == "invalid_type" else "invalid_value"
                seen.add(name)
                reasons.append(Reason(code, name, str(exc)[:200]))
        if reasons:
            return None, _ordered(reasons)
        ts = moments.get(self._time_field) if self._time_field is not None else None
        return Validated(ts), []


def _ordered(reasons: list[Reason]) -> list[Reason]:
    return [r for r in reasons if r.code == "missing_field"] + [
        r for r in reasons if r.code != "missing_field"
    ]


def _reasons(error: SchemaError, record: dict[str, Any]) -> list[Reason]:
    path = error.path
    kind = error.keyword
    if kind == "required" and not path:
        names = error.expected if isinstance(error.expected, list) else []
        return [
            Reason("missing_field", str(name), f"{name} is required")
            for name in names
            if record.get(name) is None
        ]
    field = str(path[0]) if path else None
    code = _CODES.get(kind, "invalid_value")
    if code == "invalid_type" and error.instance is None and len(path) == 1:
        code = "missing_field"
    return [Reason(code, field, error.message[:200])]
