"""The quality dimensions: small online estimators, one per concept, River-style.

Each dimension learns from one record (or one outcome) at a time with ``learn_one``,
which only adds to counters of the open window (a few attribute updates, so it is cheap
per record). ``close_window()`` turns the window into rates, folds them into an
exponentially weighted mean (River's ``stats.EWMean`` arithmetic, in
:class:`~streamguard.quality.window.WindowedRate`; ``fading_factor`` = weight of the newest
window) and returns them for the drop detectors. ``get()`` is the
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
from typing import Any, Final

from streamguard.quality.completeness import Completeness, applicable_fields
from streamguard.quality.window import DEFAULT_FADING_FACTOR, WindowedRate
from streamguard.validate.integrity import price_agrees

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

# A tuple, not ``int | float``: isinstance() with a tuple is ~3x faster (per-record path).
_NUMBER: Final = (int, float)


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
        rate = self._rate  # rate.add(...), inline: per record
        rate.total += 0.0 if duplicate else 1.0
        rate.n += 1


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
        window = self._lag  # window.add(lag), inline: per record
        window.total += lag
        window.n += 1
        if lag > self.late_after_s:
            self.late += 1
            on_time = 0.0
        elif -lag > self.future_after_s:
            self.future += 1
            on_time = 0.0
        else:
            on_time = 1.0
        window = self._rate
        window.total += on_time
        window.n += 1
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
    :class:`streamguard.repair.rules.Catalogue`). A price is consistent when it is within
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
        # The same rule as the pipeline's _dq.flags (validate/integrity.py).
        agrees = price_agrees(record, product, self.price_tolerance)
        score = 1.0
        if agrees is not None:
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
        rate = self._rate  # rate.add(...), inline: per record
        rate.total += 0.0 if anomalous else 1.0
        rate.n += 1
        return anomalous
