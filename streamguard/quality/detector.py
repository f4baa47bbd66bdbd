"""Detecting a fall in a quality score: Page-Hinkley over window means.

The scorer closes a window every few hundred records and gives each window's mean score
to a :class:`DropDetector`: a Page-Hinkley test watching decreases
(:class:`PageHinkleyDown`, the arithmetic of ``river.drift.PageHinkley(mode="down")``
without importing ``river.drift``, whose package pulls in scikit-learn and SciPy: ~1 s
of every ``streamguard check``'s start-up) that fires when the cumulative shortfall
below the running mean exceeds ``threshold``, so a drop of ``d`` fires after about
``threshold / d`` windows (0.5 / 0.2 -> 3 windows). Window means rather than per-record
0/1 values keep it cheap and far less noisy. We chose Page-Hinkley over ADWIN because
on window means ADWIN took ~100 windows to notice a 20-point drop in our trials, and
Page-Hinkley can watch one direction only.

A detected drop stays **active** (:attr:`DropDetector.active`) while the window means
stay below the level before it: it clears at the first window back within ``min_drop``
of that level. Page-Hinkley starts over at each detection (the next drop is measured
from the new level), but that reset says nothing about recovery.

Examples
--------
>>> d = DropDetector(min_windows=5, threshold=0.3)
>>> drops = [d.learn_one(1.0 if i < 20 else 0.5) for i in range(40)]
>>> [(i, round(x.baseline, 2), x.current, x.windows) for i, x in enumerate(drops) if x]
[(20, 1.0, 0.5, 21)]
>>> d.active is not None, d.learn_one(0.99), d.active
(True, None, None)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Drop", "DropDetector", "PageHinkleyDown"]


@dataclass(frozen=True, slots=True)
class Drop:
    """A detected fall: the mean level before (``baseline``) and the window that fell."""

    baseline: float
    current: float
    windows: int


class PageHinkleyDown:
    """Page-Hinkley for decreases of the mean: River's ``PageHinkley(mode="down")``,
    step for step (same floating-point operations, so the same detections).

    ``update(x)`` then ``drift_detected``; after a detection the next ``update`` starts
    over. ``tests/unit/quality/test_page_hinkley.py`` compares it with River's.

    >>> ph = PageHinkleyDown(min_instances=5, delta=0.005, threshold=0.3)
    >>> hits = []
    >>> for i in range(30):
    ...     ph.update(1.0 if i < 10 else 0.5)
    ...     if ph.drift_detected:
    ...         hits.append(i)
    >>> hits  # the mean is learnt anew after the detection: 0.5 is the new normal
    [10]
    """

    __slots__ = (
        "_max_decrease",
        "_mean",
        "_n",
        "_sum_decrease",
        "alpha",
        "delta",
        "drift_detected",
        "min_instances",
        "threshold",
    )

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
    ) -> None:
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False
        self._n = 0.0
        self._mean = 0.0
        self._sum_decrease = 0.0
        self._max_decrease: float = -1

    def update(self, x: float) -> None:
        """Add one value; :attr:`drift_detected` says whether the mean fell."""
        if self.drift_detected:
            self._reset()
        self._n += 1.0
        self._mean += (1.0 / self._n) * (x - self._mean)
        dev = x - self._mean
        self._sum_decrease = self.alpha * self._sum_decrease + dev + self.delta
        if self._sum_decrease > self._max_decrease:
            self._max_decrease = self._sum_decrease
        if self._n >= self.min_instances:
            self.drift_detected = self._max_decrease - self._sum_decrease > self.threshold


class DropDetector:
    """Page-Hinkley (decreases only) over window means of a score in [0, 1].

    Parameters
    ----------
    min_windows
        Windows to learn the level from before any drop can be reported.
    threshold
        Page-Hinkley's threshold on the cumulative shortfall (in score units).
    delta
        Tolerated shortfall per window (noise allowance).
    min_drop
        A detection is reported only if the window mean is at least this far below the
        baseline (the detector also fires on slow slides; tiny ones are not news).
    """

    def __init__(
        self,
        *,
        min_windows: int = 10,
        threshold: float = 0.5,
        delta: float = 0.005,
        min_drop: float = 0.05,
    ) -> None:
        if min_windows < 1:
            raise ValueError("min_windows must be >= 1")
        if threshold <= 0 or delta < 0 or min_drop < 0:
            raise ValueError("threshold must be > 0, delta and min_drop >= 0")
        self.min_windows = min_windows
        self.threshold = threshold
        self.delta = delta
        self.min_drop = min_drop
        self._active: Drop | None = None
        self._reset()

    def _reset(self) -> None:
        self._detector = PageHinkleyDown(
            min_instances=self.min_windows, delta=self.delta, threshold=self.threshold
        )
        self._level_sum = 0.0
        self._windows = 0

    def learn_one(self, x: float) -> Drop | None:
        """Add one window mean; a :class:`Drop` when it shows a fall."""
        baseline = self._level_sum / self._windows if self._windows else x
        self._detector.update(x)
        self._level_sum += x
        self._windows += 1
        active = self._active
        if active is not None:
            if x >= active.baseline - self.min_drop:
                self._active = None  # back at the level before the drop: cleared
            else:
                self._active = Drop(active.baseline, x, active.windows)
        if not self._detector.drift_detected:
            return None
        windows = self._windows
        # Start over at the new level: the next drop is measured from there.
        self._reset()
        if baseline - x < self.min_drop:
            return None
        drop = Drop(baseline=baseline, current=x, windows=windows)
        if self._active is None:
            self._active = drop
        return drop

    @property
    def active(self) -> Drop | None:
        """The drop whose condition holds now (its ``baseline`` is the level before the
        first detection, ``current`` the latest window), None once it has cleared."""
        return self._active

    @property
    def level(self) -> float | None:
        """Mean of the windows since the last reset (None before the first window)."""
        return self._level_sum / self._windows if self._windows else None
