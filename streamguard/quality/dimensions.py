"""The quality dimensions: small online estimators, one per concept, River-style.

Each dimension learns from one record (or one outcome) at a time with ``learn_one``,
which only adds to counters of the open window (a few attribute updates, so it is cheap
per record). ``close_window()`` turns the window into rates, folds them into an
exponentially weighted mean (:class:`river.stats.EWMean`, ``fading_factor`` = weight of
the newest window) and returns them for the drop detectors. ``get()`` is the
stream-level score in [0, 1] (``None`` until a window with data has closed).

Examples
--------
>>> v = Validity(fading_factor=0.3)
>>> for status in ("valid", "corrected", "quarantine", "valid"):
...     v.learn_one(status)
>>> v.close_window()
{None: 0.75}
>>> for status in ("valid", "valid"):
...     v.learn_one(status)
>>> v.close_window(), round(v.get(), 3)  # 0.3 * 1.0 + 0.7 * 0.75
({None: 1.0}, 0.825)
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from river import stats

from streamguard.events.models import BEHAVIOR_EVENT_TYPES, PRICED_EVENT_TYPES, PRODUCT_OPS
from streamguard.tally import GAP_FIELDS

__all__ = [
    "DEFAULT_FADING_FACTOR",
    "AnomalyRate",
    "Completeness",
    "Consistency",
    "Timeliness",
    "Uniqueness",
    "Validity",
    "WindowedRate",
    "applicable_fields",
]

#: Weight of the newest window in every stream-level EWMA (≈ the last 5 windows).
DEFAULT_FADING_FACTOR: Final = 0.3

_BEHAVIOR_REQUIRED: Final = ("event_id", "event_type", "user_id", "ts")
_BEHAVIOR_OPTIONAL: Final = GAP_FIELDS["behavior"]
_PRODUCT_REQUIRED: Final = ("event_id", "product_id", "op", "ts")
_PRODUCT_OPTIONAL: Final = GAP_FIELDS["product"]
# Spelling variants ("addToCart", "Add-To-Cart") -> canonical value, as repair sees them.
_CANONICAL = {v.replace("_", ""): v for v in (*BEHAVIOR_EVENT_TYPES, *PRODUCT_OPS)}


# A tuple, not ``int | float``: isinstance() with a tuple is ~3x faster (per-record path).
_NUMBER: Final = (int, float)


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


def _present(value: Any) -> bool:
    return value is not None and value != ""


class WindowedRate:
    """Mean of a [0, 1] indicator per tumbling window, and an EWMA over the windows.

    ``add`` costs two attribute updates, so it is cheap enough to run per record;
    ``close`` turns the window into one observation of a :class:`river.stats.EWMean`.

    >>> r = WindowedRate(fading_factor=0.5)
    >>> r.add(1.0); r.add(0.0); r.close(), r.get()
    (0.5, 0.5)
    >>> r.close() is None, r.get()
    (True, 0.5)
    """

    __slots__ = ("_ewm", "_windows", "n", "total")

    def __init__(self, fading_factor: float = DEFAULT_FADING_FACTOR) -> None:
        self._ewm = stats.EWMean(fading_factor)
        self._windows = 0
        self.total = 0.0
        self.n = 0

    def add(self, x: float) -> None:
        """Add one value to the open window."""
        self.total += x
        self.n += 1

    def close(self) -> float | None:
        """Close the window: its mean (None if empty), folded into the EWMA."""
        if not self.n:
            return None
        mean = self.total / self.n
        self.total, self.n = 0.0, 0
        self.observe(mean)
        return mean

    def observe(self, mean: float) -> None:
        """Fold one window mean into the EWMA."""
        self._ewm.update(mean)
        self._windows += 1

    def get(self) -> float | None:
        """The EWMA of the window means (None before the first closed window)."""
        return float(self._ewm.get()) if self._windows else None


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
    ) -> None:
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
            self._record.add(1.0)
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


class _OneRate:
    """A dimension that is one windowed rate."""

    def __init__(self, fading_factor: float) -> None:
        self.fading_factor = fading_factor
        self._rate = WindowedRate(fading_factor)

    def close_window(self) -> dict[str | None, float]:
        """Close the window: ``{None: its mean}`` (empty when it saw nothing)."""
        mean = self._rate.close()
        return {} if mean is None else {None: mean}

    def get(self) -> float | None:
        """The EWMA of the window means (None before the first closed window)."""
        return self._rate.get()


class Validity(_OneRate):
    """Share of records that are valid or corrected (duplicates left to uniqueness).

    >>> v = Validity(fading_factor=0.5)
    >>> for status in ("valid", "corrected", "quarantine", "valid"):
    ...     v.learn_one(status)
    >>> v.learn_one("quarantine", duplicate=True)
    >>> v.close_window(), v.get()
    ({None: 0.75}, 0.75)
    """

    def __init__(self, fading_factor: float = DEFAULT_FADING_FACTOR) -> None:
        super().__init__(fading_factor)

    def learn_one(self, status: str, *, duplicate: bool = False) -> None:
        """Learn one final decision (``valid``, ``corrected`` or ``quarantine``)."""
        if not duplicate:
            self._rate.add(0.0 if status == "quarantine" else 1.0)


class Uniqueness(_OneRate):
    """One minus the duplicate rate (duplicates are quarantined as ``duplicate``).

    >>> u = Uniqueness(fading_factor=0.5)
    >>> u.learn_one(False); u.learn_one(True)
    >>> u.close_window(), u.get()
    ({None: 0.5}, 0.5)
    """

    def __init__(self, fading_factor: float = DEFAULT_FADING_FACTOR) -> None:
        super().__init__(fading_factor)

    def learn_one(self, duplicate: bool) -> None:
        """Learn whether one decided record was a duplicate."""
        self._rate.add(0.0 if duplicate else 1.0)


class Timeliness(_OneRate):
    """Share of clean records on time: not later than ``late_after_s``, not in the future.

    Lag is processing time minus event time. Also keeps the lag's EWMA and counts of
    late and future events.

    >>> t = Timeliness(late_after_s=60, future_after_s=5, fading_factor=0.5)
    >>> t.learn_one(event_time=100.0, now=110.0), t.learn_one(event_time=0.0, now=110.0)
    (1.0, 0.0)
    >>> t.learn_one(event_time=210.0, now=110.0), t.late, t.future
    (0.0, 1, 1)
    >>> t.close_window(), t.lag_seconds()
    ({None: 0.333...}, 6.666...)
    """

    def __init__(
        self,
        *,
        late_after_s: float = 300.0,
        future_after_s: float = 60.0,
        fading_factor: float = DEFAULT_FADING_FACTOR,
    ) -> None:
        if late_after_s <= 0 or future_after_s < 0:
            raise ValueError("late_after_s must be > 0 and future_after_s >= 0")
        super().__init__(fading_factor)
        self.late_after_s = late_after_s
        self.future_after_s = future_after_s
        self._lag = WindowedRate(fading_factor)
        self.late = 0
        self.future = 0

    def learn_one(self, event_time: float, now: float) -> float:
        """Learn one event time (epoch seconds); return 1.0 if on time, else 0.0."""
        lag = now - event_time
        self._lag.add(lag)
        if lag > self.late_after_s:
            self.late += 1
            on_time = 0.0
        elif -lag > self.future_after_s:
            self.future += 1
            on_time = 0.0
        else:
            on_time = 1.0
        self._rate.add(on_time)
        return on_time

    def close_window(self) -> dict[str | None, float]:
        """Close the window (the lag's too)."""
        self._lag.close()
        return super().close_window()

    def lag_seconds(self) -> float | None:
        """EWMA of the event-time lag in seconds (negative: events from the future)."""
        return self._lag.get()


class Consistency(_OneRate):
    """Behaviour events against the catalogue: product known, price close to its price.

    ``catalogue`` is anything with ``.get(product_id) -> mapping | None`` (see
    :class:`streamguard.repair.Catalogue`). A price is consistent when it is within
    ``price_tolerance`` (relative) of the catalogue price in the same currency. A
    record scores 1.0, 0.5 (price off) or 0.0 (unknown product).

    >>> c = Consistency({"p1": {"price": 10.0, "currency": "EUR"}}, fading_factor=0.5)
    >>> c.learn_one({"product_id": "p1", "price": 10.5, "currency": "EUR"})
    1.0
    >>> c.learn_one({"product_id": "p1", "price": 30.0, "currency": "EUR"})
    0.5
    >>> c.learn_one({"product_id": "nope"}), c.learn_one({"query": "shoes"})
    (0.0, None)
    >>> c.close_window(), c.catalogue_hits(), c.price_agreement()
    ({None: 0.5}, 0.666..., 0.5)
    """

    def __init__(
        self,
        catalogue: Any,
        *,
        price_tolerance: float = 0.5,
        fading_factor: float = DEFAULT_FADING_FACTOR,
    ) -> None:
        if not callable(getattr(catalogue, "get", None)):
            raise TypeError("catalogue must have .get(product_id)")
        if price_tolerance <= 0:
            raise ValueError("price_tolerance must be > 0")
        super().__init__(fading_factor)
        self.catalogue = catalogue
        self.price_tolerance = price_tolerance
        self._hits = WindowedRate(fading_factor)
        self._prices = WindowedRate(fading_factor)

    def learn_one(self, record: Mapping[str, Any]) -> float | None:
        """Learn one clean behaviour event; its own consistency, or None if n/a."""
        product_id = record.get("product_id")
        if not isinstance(product_id, str):
            return None
        product = self.catalogue.get(product_id)
        if product is None:
            self._hits.add(0.0)
            self._rate.add(0.0)
            return 0.0
        self._hits.add(1.0)
        price, listed = record.get("price"), product.get("price")
        score = 1.0
        if (
            isinstance(price, _NUMBER)
            and isinstance(listed, _NUMBER)
            and listed > 0
            and record.get("currency") == product.get("currency")
        ):
            agrees = abs(price - listed) <= self.price_tolerance * listed
            self._prices.add(1.0 if agrees else 0.0)
            score = 1.0 if agrees else 0.5
        self._rate.add(score)
        return score

    def close_window(self) -> dict[str | None, float]:
        """Close the window (hits and prices too)."""
        self._hits.close()
        self._prices.close()
        return super().close_window()

    def catalogue_hits(self) -> float | None:
        """The recent share of events whose product is in the catalogue."""
        return self._hits.get()

    def price_agreement(self) -> float | None:
        """The recent share of comparable prices within tolerance of the catalogue."""
        return self._prices.get()


class AnomalyRate(_OneRate):
    """One minus the share of records the anomaly engine scored >= ``threshold``.

    >>> a = AnomalyRate(threshold=0.8, fading_factor=0.5)
    >>> a.learn_one(None), a.close_window(), a.get()
    (False, {}, None)
    >>> a.learn_one(0.1), a.learn_one(0.95), a.close_window()
    (False, True, {None: 0.5})
    """

    def __init__(
        self, threshold: float = 0.8, fading_factor: float = DEFAULT_FADING_FACTOR
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        super().__init__(fading_factor)
        self.threshold = threshold

    def learn_one(self, score: float | None) -> bool:
        """Learn one record's anomaly score (None: not scored); True if anomalous."""
        if not isinstance(score, _NUMBER) or score != score:
            return False
        anomalous = score >= self.threshold
        self._rate.add(0.0 if anomalous else 1.0)
        return anomalous
