"""The record pipeline: decode -> repair -> validate -> dedupe -> route. Pure, no I/O.

One :class:`RecordPipeline` per stream. ``process(raw, source)`` never raises on input:
every record comes back as an :class:`~streamguard.records.Outcome` that names exactly
one destination (clean or quarantine) and carries the bytes to write there.

Examples
--------
>>> from streamguard.records import SourcePosition
>>> pipeline = RecordPipeline("behavior", clock=lambda: 1_800_000_000.0)
>>> raw = b'{"event_id": "e1", "event_type": "addToCart", "user_id": "u1",' \\
...       b' "product_id": "p1", "price": "9.5", "currency": "usd", "quantity": 1,' \\
...       b' "ts": 1800000000}'
>>> outcome = pipeline.process(raw, SourcePosition("events.behavior", 0, 0))
>>> outcome.status, [c.rule for c in outcome.corrections]
('corrected', ['enum_normalize', 'numeric_string', 'currency_normalize', 'ts_epoch_seconds'])
>>> outcome.record["ts"], outcome.key
('2027-01-15T08:00:00.000Z', b'u1')
>>> bad = pipeline.process(b'{"event_id": "e2"}', SourcePosition("events.behavior", 0, 1))
>>> bad.status, sorted({r.field for r in bad.reasons})
('quarantine', ['event_type', 'ts', 'user_id'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from streamguard.codec import decode_object, encode_record
from streamguard.dedupe import DedupeIndex
from streamguard.events.models import BehaviorEvent, ProductEvent, missing_conditional_fields
from streamguard.records import (
    Correction,
    Outcome,
    Reason,
    SourcePosition,
    format_ts,
    quarantine_value,
)
from streamguard.repair import Catalogue, repair_behavior, repair_product

__all__ = ["PipelineObserver", "RecordPipeline", "StreamName", "reasons_from_validation_error"]

StreamName = Literal["behavior", "product"]

_MODELS: dict[str, type[BaseModel]] = {"behavior": BehaviorEvent, "product": ProductEvent}
_KEY_FIELD = {"behavior": "user_id", "product": "product_id"}
_SCHEMA_VERSION = {"behavior": "behavior.v1", "product": "product.v1"}

# pydantic error type -> reason code; anything else ending in "_type" is invalid_type.
_ERROR_CODES = {
    "missing": "missing_field",
    "literal_error": "unknown_enum",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "finite_number": "invalid_value",
    "invalid_type": "invalid_type",
    "int_from_float": "invalid_type",
}


def reasons_from_validation_error(error: ValidationError) -> list[Reason]:
    """Translate pydantic errors into the fixed reason vocabulary (one per field).

    >>> try:
    ...     ProductEvent.model_validate({"event_id": "e", "product_id": "p", "op": "merge",
    ...                                  "ts": "2026-01-01T00:00:00Z", "stock": -1})
    ... except ValidationError as exc:
    ...     [(r.code, r.field) for r in reasons_from_validation_error(exc)]
    [('unknown_enum', 'op'), ('out_of_range', 'stock')]
    """
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


class PipelineObserver(Protocol):
    """Something that watches every record the pipeline decides (drift, anomaly, quality).

    Observers are called synchronously, in this order, and must stay cheap (a few µs):
    anything expensive (embeddings) is queued and done elsewhere.
    """

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """The decoded JSON object, *before* repair (raw field types). Do not mutate it or
        keep a reference: repair changes it in place next."""

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """A record bound for the clean topic, before it is serialized: ``ts`` is
        normalised and ``_dq`` is set; the observer may fill ``_dq`` scores
        (``anomaly_score``, ``quality_score``)."""

    def on_outcome(self, outcome: Outcome) -> None:
        """Every final decision (clean or quarantine), after serialization."""


class RecordPipeline:
    """Decides the fate of each raw record of one stream.

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``: picks the schema, repair rules and output key.
    max_record_bytes
        Larger values are quarantined as ``too_large`` with a truncated raw copy.
    dedupe
        Duplicate index (event_id within a window); ``None`` disables dedupe.
    catalogue
        Latest products, used to fill a missing price on cart/purchase events.
    clock
        Seconds since the epoch, for ``checked_at`` / ``received_at``.
    observers
        :class:`PipelineObserver` objects called for every record (in order).
    """

    def __init__(
        self,
        stream: StreamName,
        *,
        max_record_bytes: int = 1_048_576,
        dedupe: DedupeIndex | None = None,
        catalogue: Catalogue | None = None,
        clock: Callable[[], float] = time.time,
        observers: Sequence[PipelineObserver] = (),
    ) -> None:
        if stream not in _MODELS:
            raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
        self.stream = stream
        self.max_record_bytes = max_record_bytes
        self.dedupe = dedupe
        self.catalogue = catalogue
        self._clock = clock
        self._model = _MODELS[stream]
        self._key_field = _KEY_FIELD[stream]
        self._schema_version = _SCHEMA_VERSION[stream]
        self._required = tuple(
            name for name, info in self._model.model_fields.items() if info.is_required()
        )
        self._now_ms = -1
        self._now_text = ""
        self.observers = tuple(observers)

    def _now(self) -> str:
        # Formatting a timestamp costs ~2 µs; records in the same millisecond share it.
        now_ms = int(self._clock() * 1000)
        if now_ms != self._now_ms:
            self._now_ms = now_ms
            self._now_text = format_ts(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
        return self._now_text

    def process(self, raw: bytes | None, source: SourcePosition) -> Outcome:
        """Decode, repair, validate and dedupe one record; never raises on bad input."""
        outcome = self._decide(raw, source)
        for observer in self.observers:
            observer.on_outcome(outcome)
        return outcome

    def _decide(self, raw: bytes | None, source: SourcePosition) -> Outcome:
        decoded = decode_object(raw, max_bytes=self.max_record_bytes)
        if isinstance(decoded, Reason):
            return self._quarantine(raw, source, [decoded])
        record = decoded
        for observer in self.observers:
            observer.on_decoded(record, source)
        if self.stream == "behavior":
            corrections = repair_behavior(record, self.catalogue)
        else:
            corrections = repair_product(record)
        validated, reasons = self._validate(record)
        if validated is None:
            return self._quarantine(raw, source, reasons)
        return self._accept(raw, record, validated.ts, corrections, source)

    def _validate(self, record: dict[str, Any]) -> tuple[Any, list[Reason]]:
        """The validated model (None if invalid) and the reasons it is invalid."""
        reasons = [
            Reason("missing_field", name, f"{name} is required")
            for name in self._required
            if record.get(name) is None
        ]
        if self.stream == "behavior":
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

    def _accept(
        self,
        raw: bytes | None,
        record: dict[str, Any],
        event_time: datetime,
        corrections: list[Correction],
        source: SourcePosition,
    ) -> Outcome:
        if self.dedupe is not None:
            first = self.dedupe.check_and_add(
                record["event_id"], event_time.timestamp() * 1000.0, source
            )
            if first is not None:
                reason = Reason(
                    "duplicate",
                    "event_id",
                    f"event_id already seen at {first.topic}/{first.partition}/{first.offset}",
                )
                return self._quarantine(raw, source, [reason])
        record["ts"] = format_ts(event_time)
        record["_dq"] = {
            "status": "corrected" if corrections else "valid",
            "corrections": [c.as_dict() for c in corrections],
            "anomaly_score": None,
            "quality_score": None,
            "schema_version": self._schema_version,
            "source": source.as_dict(),
            "checked_at": self._now(),
        }
        for observer in self.observers:
            observer.on_clean(record, source)
        value = encode_record(record)
        if isinstance(value, Reason):
            return self._quarantine(raw, source, [value])
        key = record[self._key_field]
        return Outcome(
            status="corrected" if corrections else "valid",
            source=source,
            key=key.encode("utf-8"),
            value=value,
            corrections=tuple(corrections),
            record=record,
        )

    def _quarantine(
        self, raw: bytes | None, source: SourcePosition, reasons: list[Reason]
    ) -> Outcome:
        too_large = any(r.code == "too_large" for r in reasons)
        value = quarantine_value(
            raw,
            source,
            tuple(reasons),
            self._now(),
            max_raw_bytes=self.max_record_bytes if too_large else None,
        )
        return Outcome(
            status="quarantine",
            source=source,
            key=source.topic.encode("utf-8"),
            value=value,
            reasons=tuple(reasons),
        )
