"""A Bernoulli CUSUM with a self-learnt background rate and episodes: the sequential test
behind :mod:`~streamguard.drift.contamination` (strays) and
:mod:`~streamguard.drift.gradual` (far repeats).

Each observation is an event (1) or not (0). The test weighs the rate
``p1 = min(0.99, max(rate_ratio × p0, p0 + min_shift))`` against the background ``p0``:

* **Background.** ``p0 = max(min_rate, (events + 0.5) / (observations + 1))`` over the
  quiet observations only: those seen while no episode is open and the sum sits at or
  below half the bound (evidence building up is not learnt as normal).
* **Sum.** Each observation adds its log-likelihood ratio (``log(p1/p0)`` for an event,
  ``log((1-p1)/(1-p0))`` otherwise); the sum is floored at zero and capped at
  ``cap × bound``, so a long episode still clears soon after the events stop.
* **Episodes.** The sum passing ``bound`` opens an episode (``"fired"``); it stays open
  (``"open"``) until the sum is back to zero (``"cleared"``) or :meth:`reset` accepts it.

The caller keeps what belongs to its field (the signal, the finding, which values count
as events); this object keeps only the numbers, so both detectors behave the same. Both
show it the same way too: :class:`CusumDetector` is their shared public face.

Examples
--------
>>> test = BernoulliCusum(min_shift=0.02, bound=12.0)
>>> {test.update(i % 100 == 0) for i in range(2000)}  # a 1% background: learnt, quiet
{'quiet'}
>>> round(test.background(), 3)
0.01
>>> states = [test.update(i % 10 == 0) for i in range(400)]  # the rate rises to 10%
>>> first = states.index("fired"); 50 < first < 200, states[first + 1]
(True, 'open')
>>> round(test.statistic, 2) > test.bound, test.open
(True, True)
>>> states = [test.update(False) for _ in range(1000)]  # the events stop
>>> states.count("cleared"), states[-1], test.open
(1, 'quiet', False)
"""

from __future__ import annotations

import math
from typing import Literal

from streamguard.events.signals import Signal

__all__ = ["BernoulliCusum", "CusumDetector", "CusumState"]

#: What one observation did: nothing outside an episode (``quiet``), opened one
#: (``fired``), kept one open (``open``) or closed one (``cleared``).
CusumState = Literal["quiet", "fired", "open", "cleared"]


class BernoulliCusum:
    """A one-sided Bernoulli CUSUM against a learnt background rate (module docstring)."""

    def __init__(
        self,
        *,
        rate_ratio: float = 4.0,
        min_shift: float = 0.02,
        min_rate: float = 0.002,
        bound: float = 12.0,
        cap: float = 1.5,
    ) -> None:
        if not 0.0 < min_rate < 1.0 or rate_ratio <= 1.0 or bound <= 0 or cap < 1.0:
            raise ValueError("need 0 < min_rate < 1, rate_ratio > 1, bound > 0, cap >= 1")
        self.rate_ratio = rate_ratio
        self.min_shift = min_shift
        self.min_rate = min_rate
        self.bound = bound
        self.cap = cap
        self._sum = 0.0
        self._open = False
        self._quiet_observations = 0
        self._quiet_events = 0
        #: ``(p0, p1)`` of the last observation (what a finding reports).
        self.rates = (min_rate, min(0.99, max(rate_ratio * min_rate, min_rate + min_shift)))

    @property
    def statistic(self) -> float:
        """The current sum (log-likelihood ratio)."""
        return self._sum

    @property
    def open(self) -> bool:
        """True while an episode is open."""
        return self._open

    def background(self) -> float:
        """The event rate of the quiet observations (``p0``)."""
        return max(self.min_rate, (self._quiet_events + 0.5) / (self._quiet_observations + 1))

    def update(self, event: bool | int) -> CusumState:
        """Add one observation; returns what it did to the episode."""
        hit = int(bool(event))
        p0 = self.background()
        p1 = min(0.99, max(self.rate_ratio * p0, p0 + self.min_shift))
        self.rates = (p0, p1)
        step = math.log(p1 / p0) if hit else math.log((1.0 - p1) / (1.0 - p0))
        self._sum = min(self.cap * self.bound, max(0.0, self._sum + step))
        if not self._open and self._sum <= self.bound / 2:
            self._quiet_observations += 1
            self._quiet_events += hit
        if self._open:
            if self._sum == 0.0:
                self._open = False
                return "cleared"
            return "open"
        if self._sum <= self.bound:
            return "quiet"
        self._open = True
        return "fired"

    def reset(self) -> None:
        """Accept the change: the sum restarts at zero and the episode ends (the learnt
        background is kept)."""
        self._sum, self._open = 0.0, False


class CusumDetector:
    """The public face of a detector built on a :class:`BernoulliCusum`: contamination and
    gradual drift.

    A subclass sets ``_armed`` (None while warming up, then whether warm-up showed a field
    it suits: low-cardinality for contamination, free text for gradual drift), ``_test``
    (its CUSUM) and ``_signal`` (the open episode's signal, else None).

    >>> class Strays(CusumDetector):
    ...     def __init__(self) -> None:
    ...         self._armed, self._test, self._signal = None, BernoulliCusum(), None
    >>> strays = Strays()
    >>> strays.armed, strays.statistic, strays.background(), strays.active_signal()
    (False, 0.0, 0.5, None)
    """

    _armed: bool | None
    _test: BernoulliCusum
    _signal: Signal | None

    @property
    def armed(self) -> bool:
        """True once warm-up showed a field the detector suits."""
        return bool(self._armed)

    @property
    def statistic(self) -> float:
        """The CUSUM's current sum (log-likelihood ratio)."""
        return self._test.statistic

    def background(self) -> float:
        """The event rate of the quiet stream (``p0``): strays, or far repeats."""
        return self._test.background()

    def active_signal(self) -> Signal | None:
        """The open episode's signal, else None."""
        return self._signal
