"""A key's usual level (:class:`RunningStats`) and a lasting change of it (:class:`LevelShift`).

The anomaly models learn only from records that did not score as anomalies, so that a
burst of absurd values does not become normal. Alone, that locks a model in: after a
legitimate lasting change (a product's price tripled) every record scores high for good.
:class:`LevelShift` is the way out, a one-sided CUSUM on a key's distances from its usual
level (River-style: ``update`` then ``drift_detected``):

* each record adds ``min(|z|, z_cap) - z_floor`` to a sum floored at 0, where ``z`` is its
  distance in spreads from the usual level: a record within ``z_floor`` spreads pulls the
  sum back by up to ``z_floor``, one far away pushes it by at most ``z_cap - z_floor``;
* while the sum is positive the records' values are kept as a candidate level (their
  running mean and spread);
* when the sum reaches ``confirm * (z_cap - z_floor)`` the candidate is confirmed: the
  model replaces its statistics with it. Records at least ``z_cap`` spreads away confirm
  a new level after exactly ``confirm`` records (``z`` between ``z_floor`` and ``z_cap``:
  proportionally later); one normal record in between takes one back.

So a one-off outlier, or a burst shorter than ``confirm``, changes nothing, and a new level
that holds scores high on its first ``confirm`` records (each is scored before it is
counted) and is scored against itself from the next one on. O(1) time and memory per
record; the models keep one only for the keys currently away from their level.

Examples
--------
>>> shift = LevelShift(confirm=3)
>>> [shift.update(30.0, z=8.0) for _ in range(3)]
[False, False, True]
>>> shift.drift_detected, shift.level.mean
(True, 30.0)
>>> shift = LevelShift(confirm=3)
>>> [shift.update(x, z) for x, z in ((99.0, 40.0), (10.0, 0.5), (10.2, 0.3))]
[False, False, False]
>>> shift.cusum, shift.level.n  # the outlier is forgotten once the sum is back at 0
(0.0, 0)
"""

from __future__ import annotations

import math

__all__ = ["LevelShift", "RunningStats"]


class RunningStats:
    """Mean and spread with a bounded memory (exponential forgetting after ``horizon``).

    >>> s = RunningStats()
    >>> for x in (1.0, 2.0, 3.0):
    ...     s.update(x)
    >>> s.n, s.mean, round(s.std, 3)
    (3, 2.0, 0.816)
    """

    __slots__ = ("horizon", "mean", "n", "_var")

    def __init__(self, horizon: int = 2000) -> None:
        self.horizon = horizon
        self.n = 0
        self.mean = 0.0
        self._var = 0.0

    @property
    def std(self) -> float:
        """Population standard deviation of the remembered values."""
        return math.sqrt(self._var)

    def update(self, x: float) -> None:
        """Add one value."""
        if self.n < self.horizon:
            self.n += 1
        weight = 1.0 / self.n
        delta = x - self.mean
        self.mean += weight * delta
        self._var = (1.0 - weight) * (self._var + weight * delta * delta)


class LevelShift:
    """CUSUM of distances from a usual level; confirms a new level (see the module docstring).

    Parameters
    ----------
    confirm
        Records at least ``z_cap`` spreads away that confirm a new level.
    z_floor
        Distances (spreads) up to this pull the sum back: the models' own score floor.
    z_cap
        Distances are capped here, so that one absurd value counts as one record.
    horizon
        Horizon of the candidate level's :class:`RunningStats` (the model's own, so the
        candidate can replace the model's statistics as is).
    """

    __slots__ = ("confirm", "cusum", "drift_detected", "horizon", "level", "z_cap", "z_floor")

    def __init__(
        self, confirm: int = 10, *, z_floor: float = 3.0, z_cap: float = 6.0, horizon: int = 2000
    ) -> None:
        if confirm < 1 or z_cap <= z_floor:
            raise ValueError("need confirm >= 1 and z_cap > z_floor")
        self.confirm = confirm
        self.z_floor = z_floor
        self.z_cap = z_cap
        self.horizon = horizon
        self.cusum = 0.0
        self.drift_detected = False
        #: The candidate level: the values seen since the sum left 0.
        self.level = RunningStats(horizon)

    def update(self, x: float, z: float) -> bool:
        """Add a value ``x`` at distance ``z`` (spreads); True when a new level is confirmed.

        After a confirmation the candidate is in :attr:`level` and the sum starts again.
        """
        if self.drift_detected:  # the confirmed level was handed over: start a new one
            self.drift_detected = False
            self.level = RunningStats(self.horizon)
        cusum = self.cusum + min(abs(z), self.z_cap) - self.z_floor
        if cusum <= 0.0:
            self.cusum = 0.0
            if self.level.n:
                self.level = RunningStats(self.horizon)
            return False
        self.level.update(x)
        if cusum >= self.confirm * (self.z_cap - self.z_floor) - 1e-9:
            self.cusum = 0.0
            self.drift_detected = True
            return True
        self.cusum = cusum
        return False
