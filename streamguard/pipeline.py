"""The record pipeline: decode -> repair -> validate -> dedupe -> route. Pure, no I/O.

One :class:`RecordPipeline` per stream. ``process(raw, source)`` never raises on input:
every record comes back as an :class:`~streamguard.events.records.Outcome` that names exactly
one destination (clean or quarantine) and carries the bytes to write there.

Examples
--------
>>> from streamguard.events.records import SourcePosition
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

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ValidationError

from streamguard.events.codec import decode_object, encode_record
from streamguard.events.models import (
    BEHAVIOR_EVENT_TYPES,
    EPOCH_MILLIS_MIN,
    PLATFORMS,
    PRICED_EVENT_TYPES,
    BehaviorEvent,
    ProductEvent,
    missing_conditional_fields,
)
from streamguard.events.records import (
    Correction,
    Outcome,
    Reason,
    SourcePosition,
    Status,
    format_ts,
    quarantine_value,
)
from streamguard.repair.rules import Catalogue, repair_behavior, repair_product
from streamguard.validate.dedupe import DedupeIndex

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


# --- the fast path ----------------------------------------------------------------------
# Most records are already valid and need no repair. For those, a hand-fused check of the
# behaviour schema (about 1 µs) replaces repair + pydantic validation (about 15 µs). It is
# deliberately narrower than the model: it accepts only records the model accepts
# unchanged and repair leaves alone (exact types, no extra fields, ts as epoch millis or
# canonical UTC text), and hands everything else to the full path, where pydantic is the
# authority. tests/unit/pipeline/test_fast_path.py checks the two paths agree.
_BEHAVIOR_FIELDS: Final = frozenset(BehaviorEvent.model_fields)
_EVENT_TYPES: Final = frozenset(BEHAVIOR_EVENT_TYPES)
_PLATFORMS: Final = frozenset(PLATFORMS)
_ID_MAX: Final = 256
_QUERY_MAX: Final = 2048
_INF: Final = float("inf")
# Epoch millis below 2**32 s: the float ms/1000 is within 0.5 µs of the true instant, so
# datetime.fromtimestamp rounds to the exact millisecond and the parts can be computed.
_FAST_MILLIS_MAX: Final = 2**32 * 1000
_CANONICAL_TS: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)


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
    fast_path
        Check records that are already valid with a hand-fused test before falling back
        to repair + pydantic. Decisions and bytes are the same either way; ``False``
        exists so tests can compare the two paths.
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
        fast_path: bool = True,
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
        self._ts_second = -1
        self._ts_prefix = ""
        self._fast_path = fast_path and stream == "behavior"
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
        if self._fast_path:
            checked = self._check_behavior(record)
            if checked is not None:
                return self._accept(raw, record, checked[0], checked[1], [], source)
        if self.stream == "behavior":
            corrections = repair_behavior(record, self.catalogue)
            if self._fast_path:
                # A repaired record that now passes the fused check is valid: skip pydantic.
                checked = self._check_behavior(record)
                if checked is not None:
                    return self._accept(raw, record, checked[0], checked[1], corrections, source)
        else:
            corrections = repair_product(record)
        validated, reasons = self._validate(record)
        if validated is None:
            return self._quarantine(raw, source, reasons)
        event_time: datetime = validated.ts
        return self._accept(
            raw,
            record,
            event_time.timestamp() * 1000.0,
            format_ts(event_time),
            corrections,
            source,
        )

    def _check_behavior(self, record: dict[str, Any]) -> tuple[float, str] | None:
        """(event time in ms, normalised ``ts``) if ``record`` is a valid behaviour event
        that repair would leave unchanged; None means "take the full path", not invalid.

        Every record it accepts, the model accepts too, and repair leaves alone: types
        are exact (``str``, ``int``, ``float``), not merely coercible.
        """
        if not record.keys() <= _BEHAVIOR_FIELDS:
            return None  # extra fields: rare, and pydantic decides what they may be
        get = record.get
        event_type = get("event_type")
        if type(event_type) is not str or event_type not in _EVENT_TYPES:
            return None
        value = get("event_id")
        if type(value) is not str or not 0 < len(value) <= _ID_MAX:
            return None
        value = get("user_id")
        if type(value) is not str or not 0 < len(value) <= _ID_MAX:
            return None
        value = get("session_id")
        if value is not None and (type(value) is not str or not 0 < len(value) <= _ID_MAX):
            return None
        product_id = get("product_id")
        if product_id is not None and (
            type(product_id) is not str or not 0 < len(product_id) <= _ID_MAX
        ):
            return None
        query = get("query")
        if query is not None and (type(query) is not str or len(query) > _QUERY_MAX):
            return None
        price = get("price")
        if price is not None and (type(price) is not float or not 0.0 <= price < _INF):
            return None  # integer prices are valid but rare: the full path takes them
        currency = get("currency")
        if currency is not None and (
            type(currency) is not str
            or len(currency) != 3
            or not (currency.isascii() and currency.isalpha() and currency.isupper())
        ):
            return None
        quantity = get("quantity")
        if quantity is not None and (type(quantity) is not int or not 0 < quantity <= 1_000_000):
            return None
        value = get("platform")
        if value is not None and (type(value) is not str or value not in _PLATFORMS):
            return None
        value = get("schema_version")
        if value is not None and (type(value) is not int or value < 1):
            return None
        if event_type == "search":
            if query is None:
                return None
        elif product_id is None:
            return None
        if event_type in PRICED_EVENT_TYPES and (
            price is None or currency is None or quantity is None
        ):
            return None
        ts = get("ts")
        if type(ts) is int:
            if not EPOCH_MILLIS_MIN <= ts < _FAST_MILLIS_MAX:
                return None
            # The same float datetime.fromtimestamp(ts / 1000).timestamp() * 1000 gives.
            return ts / 1000 * 1000.0, self._format_millis(ts)
        if type(ts) is str and len(ts) == 24 and _CANONICAL_TS.fullmatch(ts):
            try:
                moment = datetime.fromisoformat(ts)
            except ValueError:
                return None
            return moment.timestamp() * 1000.0, ts  # canonical text formats to itself
        return None

    def _format_millis(self, millis: int) -> str:
        """``format_ts`` of epoch millis, reusing the date-time text of the last second."""
        seconds, fraction = divmod(millis, 1000)
        if seconds != self._ts_second:
            self._ts_prefix = format_ts(datetime.fromtimestamp(seconds, tz=UTC))[:-4]
            self._ts_second = seconds
        return f"{self._ts_prefix}{fraction:03d}Z"

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
        event_time_ms: float,
        ts_text: str,
        corrections: list[Correction],
        source: SourcePosition,
    ) -> Outcome:
        if self.dedupe is not None:
            first = self.dedupe.check_and_add(record["event_id"], event_time_ms, source)
            if first is not None:
                reason = Reason(
                    "duplicate",
                    "event_id",
                    f"event_id already seen at {first.topic}/{first.partition}/{first.offset}",
                )
                return self._quarantine(raw, source, [reason])
        status: Status = "corrected" if corrections else "valid"
        record["ts"] = ts_text
        record["_dq"] = {
            "status": status,
            "corrections": [c.as_dict() for c in corrections] if corrections else [],
            "anomaly_score": None,
            "quality_score": None,
            "schema_version": self._schema_version,
            "source": {
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
            },
            "checked_at": self._now(),
        }
        for observer in self.observers:
            observer.on_clean(record, source)
        value = encode_record(record)
        if isinstance(value, Reason):
            return self._quarantine(raw, source, [value])
        # Positional: the generated __init__ of a frozen dataclass is cheaper that way.
        return Outcome(
            status,
            source,
            record[self._key_field].encode("utf-8"),
            value,
            (),
            tuple(corrections) if corrections else (),
            record,
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
