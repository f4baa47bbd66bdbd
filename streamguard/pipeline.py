"""The record pipeline: decode -> repair -> validate -> dedupe -> route. Pure, no I/O.

One :class:`RecordPipeline` per stream. ``process(raw, source)`` never raises on input:
every record comes back as an :class:`~streamguard.events.records.Outcome` that names exactly
one destination (clean or quarantine) and carries the bytes to write there. The
per-record checks live in :mod:`streamguard.validate` (the fused fast path, the schema,
the reason vocabulary, dedupe) and :mod:`streamguard.repair`; this module composes them.

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

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from streamguard.contracts.contract import StreamContract
from streamguard.contracts.validator import ContractValidator
from streamguard.events.codec import decode_object, encode_record
from streamguard.events.records import (
    Correction,
    Outcome,
    Reason,
    SourcePosition,
    Status,
    format_ts,
    quarantine_value,
)
from streamguard.events.ts_text import MillisText
from streamguard.repair.rules import Catalogue, repair_behavior, repair_product
from streamguard.validate.dedupe import DedupeIndex
from streamguard.validate.fast_path import BehaviorFastPath
from streamguard.validate.integrity import FLAGS, check_catalogue
from streamguard.validate.pii_policy import PiiPolicy
from streamguard.validate.reasons import reasons_from_validation_error
from streamguard.validate.schema import MODELS, SchemaValidator, StreamName

__all__ = ["PipelineObserver", "RecordPipeline", "StreamName", "reasons_from_validation_error"]

_KEY_FIELD = {"behavior": "user_id", "product": "product_id"}
_SCHEMA_VERSION = {"behavior": "behavior.v1", "product": "product.v1"}
_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError


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


def _hooks(observers: Sequence[PipelineObserver], name: str) -> tuple[Callable[..., Any], ...]:
    """The bound ``name`` methods of ``observers``, in order."""
    return tuple(getattr(observer, name) for observer in observers)


def _under_contract(
    fast_check: Callable[[dict[str, Any]], tuple[float, str] | None], validator: ContractValidator
) -> Callable[[dict[str, Any]], tuple[float, str] | None]:
    """The fused check, accepting only what the contract accepts too (a record it
    accepts is one repair leaves alone, so the contract's verdict on it is final)."""

    def check(record: dict[str, Any]) -> tuple[float, str] | None:
        checked = fast_check(record)
        if checked is None or validator.validate(record)[0] is None:
            return None
        return checked

    return check


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
    contract
        The stream's data contract (:mod:`streamguard.contracts`): its checks replace the
        shipped schema's (repair still runs on a shipped stream, and what the fast path
        accepts, the contract must accept too); it may name a stream StreamGuard does
        not ship; clean records carry ``_dq.contract``.
    pii_policy
        The stream's PII policy (:mod:`streamguard.validate.pii_policy`): applied to each
        valid record before dedupe, it masks values (``pii_mask`` corrections) or
        quarantines the record (``pii_detected``); ``None``: report only, no scan.
    """

    def __init__(
        self,
        stream: StreamName | str,
        *,
        max_record_bytes: int = 1_048_576,
        dedupe: DedupeIndex | None = None,
        catalogue: Catalogue | None = None,
        clock: Callable[[], float] = time.time,
        observers: Sequence[PipelineObserver] = (),
        fast_path: bool = True,
        contract: StreamContract | None = None,
        pii_policy: PiiPolicy | None = None,
    ) -> None:
        if stream not in MODELS and (contract is None or contract.stream != stream):
            raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
        self.stream = stream
        self.contract = contract
        self.pii_policy = pii_policy
        self.max_record_bytes = max_record_bytes
        self.dedupe = dedupe
        self.catalogue = catalogue
        self._clock = clock
        self._validator: SchemaValidator | ContractValidator
        if contract is not None:
            self._validator = ContractValidator(contract)
            self._key_field = contract.key_field
            self._id_field = contract.id_field
            self._time_field = contract.time_field
            self._schema_version = contract.schema_version
        else:
            self._validator = SchemaValidator(stream)  # type: ignore[arg-type]
            self._key_field = _KEY_FIELD[stream]
            self._id_field = "event_id"
            self._time_field = "ts"
            self._schema_version = _SCHEMA_VERSION[stream]
        self._stamp = contract.stamp() if contract is not None else None
        self._now_ms = -1
        self._now_text = ""
        self._millis_text = MillisText()
        # The fused check of records that need no repair (behaviour only): None = off.
        self._fast_check: Callable[[dict[str, Any]], tuple[float, str] | None] | None = (
            BehaviorFastPath().check if fast_path and stream == "behavior" else None
        )
        if self._fast_check is not None and isinstance(self._validator, ContractValidator):
            # It knows the shipped rules only: what it accepts, the contract checks too.
            self._fast_check = _under_contract(self._fast_check, self._validator)
        self.observers = tuple(observers)

    @property
    def observers(self) -> tuple[PipelineObserver, ...]:
        """The :class:`PipelineObserver` objects called for every record, in order."""
        return self._observers

    @observers.setter
    def observers(self, observers: Sequence[PipelineObserver]) -> None:
        self._observers = tuple(observers)
        # The hooks to call per record, bound once (not looked up per record).
        self._on_decoded = _hooks(self._observers, "on_decoded")
        self._on_clean = _hooks(self._observers, "on_clean")
        self._on_outcome = _hooks(self._observers, "on_outcome")

    def _now(self) -> str:
        # Formatting a timestamp costs ~2 µs; records in the same millisecond share it.
        now_ms = int(self._clock() * 1000)
        if now_ms != self._now_ms:
            self._set_now(now_ms)
        return self._now_text

    def _set_now(self, now_ms: int) -> None:
        """Make ``now_ms`` the cached "now" (its second's date and time formatted once)."""
        self._now_ms = now_ms
        self._now_text = self._millis_text(now_ms)

    def process(self, raw: bytes | None, source: SourcePosition) -> Outcome:
        """Decode, repair, validate and dedupe one record; never raises on bad input.

        Every outcome comes from :meth:`_accept` or :meth:`_quarantine`, which hand it to
        the observers' ``on_outcome`` (one frame less per record than doing it here).
        """
        # decode_object's common case inline; anything else goes through it for its reason.
        record: Any = None
        if raw is not None and len(raw) <= self.max_record_bytes:
            try:
                record = _loads(raw)
            except _JSONDecodeError:
                record = None
        if type(record) is not dict:
            decoded = decode_object(raw, max_bytes=self.max_record_bytes)
            if isinstance(decoded, Reason):
                return self._quarantine(raw, source, [decoded])
            record = decoded
        for on_decoded in self._on_decoded:
            on_decoded(record, source)
        fast_check = self._fast_check
        if fast_check is not None:
            checked = fast_check(record)
            if checked is not None:
                return self._accept(raw, record, checked[0], checked[1], [], source)
        if self.stream == "behavior":
            corrections = repair_behavior(record, self.catalogue)
            if fast_check is not None:
                # A repaired record that now passes the fused check is valid: skip pydantic.
                checked = fast_check(record)
                if checked is not None:
                    return self._accept(raw, record, checked[0], checked[1], corrections, source)
        elif self.stream == "product":
            corrections = repair_product(record)
        else:
            corrections = []  # a contract's own stream: no repair rules
        validated, reasons = self._validator.validate(record)
        if validated is None:
            return self._quarantine(raw, source, reasons)
        event_time: datetime | None = validated.ts
        if event_time is None:  # a contract stream without an event time
            return self._accept(raw, record, self._clock() * 1000.0, None, corrections, source)
        return self._accept(
            raw,
            record,
            event_time.timestamp() * 1000.0,
            format_ts(event_time),
            corrections,
            source,
        )

    def _accept(
        self,
        raw: bytes | None,
        record: dict[str, Any],
        event_time_ms: float,
        ts_text: str | None,
        corrections: list[Correction],
        source: SourcePosition,
    ) -> Outcome:
        if self.pii_policy is not None:
            masked, pii_reasons = self.pii_policy.apply(record)
            if pii_reasons:
                return self._quarantine(raw, source, pii_reasons)
            if masked:
                corrections = [*corrections, *masked]
        id_field = self._id_field
        event_id = record.get(id_field) if id_field is not None else None
        if self.dedupe is not None and event_id is not None:
            first = self.dedupe.check_and_add(
                event_id if type(event_id) is str else str(event_id), event_time_ms, source
            )
            if first is not None:
                reason = Reason(
                    "duplicate",
                    self._id_field,
                    f"{self._id_field} already seen at"
                    f" {first.topic}/{first.partition}/{first.offset}",
                )
                return self._quarantine(raw, source, [reason])
        status: Status = "corrected" if corrections else "valid"
        if ts_text is not None and self._time_field is not None:
            record[self._time_field] = ts_text
        now_ms = int(self._clock() * 1000)  # self._now(), inline: per record
        if now_ms != self._now_ms:
            self._set_now(now_ms)
        lookup = (
            check_catalogue(record, self.catalogue)
            if self.catalogue is not None and self.stream == "behavior"
            else None
        )
        record["_dq"] = dq = {
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
            "checked_at": self._now_text,
        }
        if self._stamp is not None:
            dq["contract"] = dict(self._stamp)
        if lookup is not None and lookup != "hit":
            # Valid but not consistent with the catalogue: flagged, not quarantined.
            dq["flags"] = [dict(FLAGS[lookup])]
        for on_clean in self._on_clean:
            on_clean(record, source)
        try:
            value = _dumps(record)
        except (orjson.JSONEncodeError, TypeError):
            encoded = encode_record(record)  # the reason it cannot be encoded
            if isinstance(encoded, Reason):
                return self._quarantine(raw, source, [encoded])
            value = encoded
        key = record[self._key_field]
        # Positional: the generated __init__ of a frozen dataclass is cheaper that way.
        outcome = Outcome(
            status,
            source,
            (key if type(key) is str else str(key)).encode("utf-8"),
            value,
            (),
            tuple(corrections) if corrections else (),
            record,
            lookup,
        )
        for on_outcome in self._on_outcome:
            on_outcome(outcome)
        return outcome

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
        outcome = Outcome(
            status="quarantine",
            source=source,
            key=source.topic.encode("utf-8"),
            value=value,
            reasons=tuple(reasons),
        )
        for on_outcome in self._on_outcome:
            on_outcome(outcome)
        return outcome
