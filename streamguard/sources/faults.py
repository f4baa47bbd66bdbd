"""Fault injection: turn a clean event into a :class:`GeneratedRecord`, maybe broken.

Every record carries at most one fault, so its expected outcome in the pipeline is
unambiguous: ``valid`` (no fault), ``corrected`` (a repair rule applies, named by
``expected_code``) or ``quarantine`` (``expected_code`` is the reason code).

A fault that does not apply to the event at hand (``price_as_string`` on a view without a
price, say) is kept pending and applied to the next event it fits, so the observed rate
stays close to the requested one.

Examples
--------
>>> mix = FaultMix.parse("price_as_string=1.0", "behavior")
>>> injector = FaultInjector(mix, seed=7)
>>> event = {"event_id": "e1", "event_type": "purchase", "user_id": "u1",
...          "product_id": "p1", "price": 12.5, "currency": "USD", "quantity": 1,
...          "ts": 1700000000000, "platform": "web", "schema_version": 1}
>>> record = injector.inject("behavior", event)
>>> record.fault, record.expected, record.expected_code, record.key
('price_as_string', 'corrected', 'numeric_string', b'u1')
>>> b'"price":"12.50"' in record.value
True
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

import orjson

from streamguard.sources.fault_kinds import (
    BEHAVIOR_FAULTS,
    DEFAULT_TOO_LARGE_BYTES,
    DUPLICATE_WINDOW,
    FAULTS,
    PRODUCT_FAULTS,
    STREAMS,
    Expected,
    FaultMix,
    FaultSpec,
    GeneratedRecord,
    Stream,
)

__all__ = [
    "BEHAVIOR_FAULTS",
    "DEFAULT_TOO_LARGE_BYTES",
    "DUPLICATE_WINDOW",
    "FAULTS",
    "PRODUCT_FAULTS",
    "STREAMS",
    "Expected",
    "FaultInjector",
    "FaultMix",
    "FaultSpec",
    "GeneratedRecord",
    "Stream",
]

logger = logging.getLogger(__name__)

Event: TypeAlias = dict[str, Any]

# --- mutations ------------------------------------------------------------------------
# Each returns the new value bytes, or None when the fault does not fit the event.

Mutation: TypeAlias = Callable[["FaultInjector", Stream, Event], bytes | None]

_TYPE_VARIANTS = {
    "view": ["View", "VIEW"],
    "click": ["Click", "CLICK"],
    "add_to_cart": ["addToCart", "Add To Cart", "add-to-cart", "ADD_TO_CART"],
    "remove_from_cart": ["removeFromCart", "Remove From Cart", "remove-from-cart"],
    "purchase": ["Purchase", "PURCHASE"],
    "search": ["Search", "SEARCH"],
}
_PLATFORM_VARIANTS = {"web": ["WEB", "Web"], "ios": ["iOS", "IOS"], "android": ["Android"]}
_NOT_JSON = [b"\x00garbage{", b"{'event_id': 'oops'", b"\xde\xad\xbe\xef", b"event_id=1&x=2"]


def _dump(event: Any) -> bytes:
    return orjson.dumps(event)


def _with(event: Event, name: str, value: Any) -> bytes | None:
    if name not in event:
        return None
    return _dump({**event, name: value})


def _without(event: Event, name: str) -> bytes | None:
    if name not in event:
        return None
    return _dump({k: v for k, v in event.items() if k != name})


def _ts_millis(ts: Any) -> int | None:
    if isinstance(ts, int) and not isinstance(ts, bool):
        return ts
    if isinstance(ts, str) and ts.endswith("Z"):
        parsed = datetime.fromisoformat(ts[:-1] + "+00:00")
        return int(parsed.timestamp() * 1000)
    return None


def _price_as_string(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    price = e.get("price")
    return _with(e, "price", f"{price:.2f}") if isinstance(price, int | float) else None


def _quantity_as_string(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return _with(e, "quantity", str(e["quantity"])) if "quantity" in e else None


def _currency_case(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    cur = e.get("currency")
    if not isinstance(cur, str):
        return None
    return _with(e, "currency", inj.rng.choice([f" {cur.lower()}", f"{cur.title()} ", cur.lower()]))


def _event_type_variant(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    variants = _TYPE_VARIANTS.get(e.get("event_type", ""))
    return _with(e, "event_type", inj.rng.choice(variants)) if variants else None


def _platform_variant(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    variants = _PLATFORM_VARIANTS.get(e.get("platform", ""))
    return _with(e, "platform", inj.rng.choice(variants)) if variants else None


def _ts_epoch_seconds(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    millis = _ts_millis(e.get("ts"))
    return None if millis is None else _with(e, "ts", millis // 1000)


def _ts_naive_iso(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    millis = _ts_millis(e.get("ts"))
    if millis is None:
        return None
    naive = datetime.fromtimestamp(millis // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return _with(e, "ts", naive)


def _negative_price(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    price = e.get("price")
    if not isinstance(price, int | float):
        return None
    return _with(e, "price", -round(max(abs(price), 0.01), 2))


def _zero_quantity(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return _with(e, "quantity", 0)


def _negative_stock(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return _with(e, "stock", -inj.rng.randint(1, 5))


def _missing_product_id(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return None if e.get("event_type") == "search" else _without(e, "product_id")


def _duplicate_event(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    recent = inj.recent[s]
    if not recent:
        return None
    key, value = recent[inj.rng.randrange(len(recent))]
    inj.duplicate_key = key
    return value


def _not_json(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return inj.rng.choice(_NOT_JSON)


def _invalid_utf8(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    marker = "\u2603invalid\u2603"
    return _dump({**e, "event_id": marker}).replace(marker.encode(), b"\xff\xfe")


def _not_an_object(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    return inj.rng.choice([_dump([e]), b"[1,2,3]", b"42", b'"view"'])


def _wrong_type(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    user = e.get("user_id")
    options: list[Any] = [{"id": user}, [user]]
    if "quantity" in e:
        options.append(True)
    choice = inj.rng.choice(options)
    return _with(e, "quantity" if choice is True else "user_id", choice)


def _too_large(inj: FaultInjector, s: Stream, e: Event) -> bytes | None:
    name = "description" if s == "product" else "debug_payload"
    base = len(_dump({**e, name: ""}))
    filler = "lorem ipsum " * (inj.too_large_bytes // 12 + 1)
    return _dump({**e, name: filler[: max(0, inj.too_large_bytes - base)]})


_MUTATIONS: dict[str, Mutation] = {
    "price_as_string": _price_as_string,
    "quantity_as_string": _quantity_as_string,
    "currency_case": _currency_case,
    "event_type_variant": _event_type_variant,
    "platform_variant": _platform_variant,
    "ts_epoch_seconds": _ts_epoch_seconds,
    "ts_naive_iso": _ts_naive_iso,
    "negative_price": _negative_price,
    "zero_quantity": _zero_quantity,
    "negative_stock": _negative_stock,
    "unknown_event_type": lambda inj, s, e: _with(e, "event_type", "teleport"),
    "unknown_op": lambda inj, s, e: _with(e, "op", "merge"),
    "missing_event_id": lambda inj, s, e: _without(e, "event_id"),
    "missing_user_id": lambda inj, s, e: _without(e, "user_id"),
    "missing_ts": lambda inj, s, e: _without(e, "ts"),
    "missing_product_id": _missing_product_id,
    "duplicate_event": _duplicate_event,
    "not_json": _not_json,
    "invalid_utf8": _invalid_utf8,
    "not_an_object": _not_an_object,
    "wrong_type": _wrong_type,
    "too_large": _too_large,
}
assert set(_MUTATIONS) == set(FAULTS)


class FaultInjector:
    """Applies a :class:`FaultMix` to clean events, one fault per record at most.

    Deterministic for a seed. ``unapplied`` counts faults that were drawn but found no
    event to fit within ``max_pending`` later events (e.g. price faults on a catalogue
    without prices).
    """

    def __init__(
        self,
        faults: FaultMix | None = None,
        *,
        seed: int = 0,
        too_large_bytes: int = DEFAULT_TOO_LARGE_BYTES,
        max_pending: int = 64,
    ) -> None:
        self.faults = faults or FaultMix.none()
        self.rng = random.Random(f"{seed}:faults")  # noqa: S311 - test data, not crypto
        self.too_large_bytes = too_large_bytes
        self.max_pending = max_pending
        self.recent: dict[Stream, deque[tuple[bytes, bytes]]] = {
            s: deque(maxlen=DUPLICATE_WINDOW) for s in STREAMS
        }
        self.pending: dict[Stream, list[str]] = {s: [] for s in STREAMS}
        self.unapplied: dict[str, int] = {}
        self.duplicate_key: bytes | None = None
        self._cumulative = {s: self._cum(self.faults.rates(s)) for s in STREAMS}

    def missed(self) -> dict[str, int]:
        """Faults drawn but never applied so far (dropped plus still pending)."""
        missed = dict(self.unapplied)
        for stream in STREAMS:
            for name in self.pending[stream]:
                missed[name] = missed.get(name, 0) + 1
        return missed

    @staticmethod
    def _cum(rates: Mapping[str, float]) -> list[tuple[float, str]]:
        acc, out = 0.0, []
        for name in sorted(rates):
            acc += rates[name]
            out.append((acc, name))
        return out

    def _draw(self, stream: Stream) -> str | None:
        cumulative = self._cumulative[stream]
        if not cumulative:
            return None
        u = self.rng.random()
        for bound, name in cumulative:
            if u < bound:
                return name
        return None

    def inject(self, stream: Stream, event: Event, key: str | None = None) -> GeneratedRecord:
        """Serialize ``event`` as a record of ``stream``, applying a fault if one is due.

        ``key`` defaults to ``user_id`` (behaviour) or ``product_id`` (product).
        """
        if key is None:
            key = str(event.get("user_id" if stream == "behavior" else "product_id", ""))
        key_bytes = key.encode()
        pending = self.pending[stream]
        drawn = self._draw(stream)
        if drawn is not None:
            pending.append(drawn)
        for i, name in enumerate(pending):
            self.duplicate_key = None
            value = _MUTATIONS[name](self, stream, event)
            if value is None:
                continue
            del pending[i]
            spec = FAULTS[name]
            record_key = self.duplicate_key if self.duplicate_key is not None else key_bytes
            return GeneratedRecord(stream, record_key, value, name, spec.expected, spec.code)
        if len(pending) > self.max_pending:
            dropped = pending.pop(0)
            if dropped not in self.unapplied:
                logger.warning("fault %s fits none of the recent %s events", dropped, stream)
            self.unapplied[dropped] = self.unapplied.get(dropped, 0) + 1
        value = _dump(event)
        if stream == "behavior":
            self.recent[stream].append((key_bytes, value))
        return GeneratedRecord(stream, key_bytes, value, None, "valid", None)
