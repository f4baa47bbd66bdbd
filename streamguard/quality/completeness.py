"""Completeness: which fields a record should carry, and how many it does, per field."""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PRICED_EVENT_TYPES, PRODUCT_OPS
from streamguard.quality.tally import GAP_FIELDS
from streamguard.quality.window import DEFAULT_FADING_FACTOR, WindowedRate

__all__ = ["Completeness", "applicable_fields"]

_BEHAVIOR_REQUIRED: Final = ("event_id", "event_type", "user_id", "ts")
_BEHAVIOR_OPTIONAL: Final = GAP_FIELDS["behavior"]
_PRODUCT_REQUIRED: Final = ("event_id", "product_id", "op", "ts")
_PRODUCT_OPTIONAL: Final = GAP_FIELDS["product"]
# Spelling variants ("addToCart", "Add-To-Cart") -> canonical value, as repair sees them.
_CANONICAL = {v.replace("_", ""): v for v in (*BEHAVIOR_EVENT_TYPES, *PRODUCT_OPS)}


def _canonical(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if value in _CANONICAL.values():
        return value
    if len(value) > 64:
        return None
    return _CANONICAL.get(value.replace("_", "").replace("-", "").replace(" ", "").lower())


def applicable_fields(
    stream: str, record: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (required, optional) fields a record of ``stream`` should carry.

    Behaviour: ``product_id`` unless a search, ``query`` for searches, price, currency and
    quantity for cart adds and purchases. Product deletes need only the required fields.

    >>> applicable_fields("behavior", {"event_type": "addToCart"})[0]
    ('event_id', 'event_type', 'user_id', 'ts', 'product_id', 'price', 'currency', 'quantity')
    >>> applicable_fields("product", {"op": "delete"})[1]
    ()
    """
    if stream == "behavior":
        event_type = _canonical(record.get("event_type"))
        conditional: tuple[str, ...] = ()
        if event_type == "search":
            conditional = ("query",)
        elif event_type is not None:
            conditional = ("product_id",)
            if event_type in PRICED_EVENT_TYPES:
                conditional += ("price", "currency", "quantity")
        return _BEHAVIOR_REQUIRED + conditional, _BEHAVIOR_OPTIONAL
    if stream == "product":
        deleted = _canonical(record.get("op")) == "delete"
        return _PRODUCT_REQUIRED, () if deleted else _PRODUCT_OPTIONAL
    raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")


class Completeness:
    """Share of the fields a record should carry that it does carry, per field.

    Learns from the *decoded* record before repair (what the producer sent), so records
    later quarantined for a missing field count too. A field is present when it is
    neither absent, ``null`` nor ``""``. The stream score is the mean of the per-field
    presence rates, required fields weighing ``required_weight`` times optional ones.
    Per record it only counts missing fields; rates are computed when a window closes.

    >>> c = Completeness("behavior", fading_factor=0.5)
    >>> c.learn_one({"event_id": "e", "event_type": "view", "user_id": "u", "ts": 1})  # 8/13
    0.615...
    >>> c.last_missing
    ('product_id', 'session_id', 'platform', 'schema_version')
    >>> windows = c.close_window()
    >>> windows["product_id"], windows["event_id"], c.fields()["event_id"]
    (0.0, 1.0, 1.0)
    """

    def __init__(
        self,
        stream: str,
        *,
        fading_factor: float = DEFAULT_FADING_FACTOR,
        required_weight: float = 2.0,
        fields: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> None:
        # ``fields``: (required, optional) of a stream declared by a data contract.
        self._fixed = fields
        if fields is None:
            applicable_fields(stream, {})  # validates the stream name
        if required_weight <= 0:
            raise ValueError("required_weight must be > 0")
        self.stream = stream
        self.fading_factor = fading_factor
        self.required_weight = required_weight
        self.last_missing: tuple[str, ...] = ()
        self._fields: dict[str, WindowedRate] = {}
        self._required: set[str] = set()
        self._record = WindowedRate(fading_factor)
        self._signatures: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self._missing: dict[str, int] = {}
        self._sig_cache: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._getters: dict[tuple[tuple[str, ...], tuple[str, ...]], itemgetter[Any]] = {}

    def _signature(self, record: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._fixed is not None:
            return self._fixed
        # Applicability depends on one enum field only: cache it per raw value.
        key = record.get("event_type" if self.stream == "behavior" else "op")
        if not isinstance(key, str):
            key = None
        signature = self._sig_cache.get(key)
        if signature is None:
            signature = applicable_fields(self.stream, record)
            if len(self._sig_cache) < 256:  # raw values are producer-controlled: bound it
                self._sig_cache[key] = signature
        return signature

    def learn_one(self, record: Mapping[str, Any]) -> float:
        """Learn one decoded record; return its own completeness in [0, 1]."""
        signature = self._fixed
        if signature is None:  # self._signature(record), its cache hit inline (per record)
            key = record.get("event_type" if self.stream == "behavior" else "op")
            signature = self._sig_cache.get(key if isinstance(key, str) else None)
            if signature is None:
                signature = self._signature(record)
        self._signatures[signature] = self._signatures.get(signature, 0) + 1
        # Fast path for the usual complete record: one C-level itemgetter call.
        getter = self._getters.get(signature)
        if getter is None:
            getter = self._getters[signature] = itemgetter(*signature[0], *signature[1])
        try:
            values = getter(record)
        except KeyError:
            values = (None,)
        if None not in values and "" not in values:
            self.last_missing = ()
            window = self._record  # window.add(1.0), inline
            window.total += 1.0
            window.n += 1
            return 1.0
        required, optional = signature
        missing: list[str] = []
        for name in required:
            value = record.get(name)
            if value is None or value == "":
                missing.append(name)
        lost = self.required_weight * len(missing)
        for name in optional:
            value = record.get(name)
            if value is None or value == "":
                missing.append(name)
                lost += 1.0
        for name in missing:
            self._missing[name] = self._missing.get(name, 0) + 1
        self.last_missing = tuple(missing)
        score = 1.0 - lost / (self.required_weight * len(required) + len(optional))
        self._record.add(score)
        return score

    def close_window(self) -> dict[str | None, float]:
        """Close the window: presence rate per field, and ``None`` -> mean record score."""
        applicable: dict[str, int] = {}
        for (required, optional), count in self._signatures.items():
            for name in required:
                applicable[name] = applicable.get(name, 0) + count
                self._required.add(name)
            for name in optional:
                applicable[name] = applicable.get(name, 0) + count
        rates: dict[str | None, float] = {}
        for name, count in applicable.items():
            rate = 1.0 - self._missing.get(name, 0) / count
            series = self._fields.get(name)
            if series is None:
                series = self._fields[name] = WindowedRate(self.fading_factor)
            series.observe(rate)
            rates[name] = rate
        record_mean = self._record.close()
        if record_mean is not None:
            rates[None] = record_mean
        self._signatures.clear()
        self._missing.clear()
        return rates

    def fields(self) -> dict[str, float]:
        """Presence rate of every field seen applicable so far."""
        return {name: rate.get() or 0.0 for name, rate in self._fields.items()}

    def get(self) -> float | None:
        """Weighted mean of the per-field presence rates."""
        if not self._fields:
            return None
        got = total = 0.0
        for name, rate in self._fields.items():
            weight = self.required_weight if name in self._required else 1.0
            got += weight * (rate.get() or 0.0)
            total += weight
        return got / total
