"""Tumbling windows of a [0, 1] indicator, with an EWMA over the window means.

The dimensions count per record and compute rates only when a window closes: counting
is a couple of attribute updates, cheap enough for every record.

The EWMA is River's ``stats.EWMean`` arithmetic (the first value, then
``f * x + (1 - f) * mean``), kept here so that importing the quality package imports
no River (``river.stats`` pulls in ``river.utils`` and SciPy: start-up time of every
``streamguard check``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_FADING_FACTOR", "WindowedRate"]

#: Weight of the newest window in every stream-level EWMA (≈ the last 5 windows).
DEFAULT_FADING_FACTOR: Final = 0.3


class WindowedRate:
    """Mean of a [0, 1] indicator per tumbling window, and an EWMA over the windows.

    ``add`` costs two attribute updates, so it is cheap enough to run per record;
    ``close`` turns the window into one observation of the EWMA.

    >>> r = WindowedRate(fading_factor=0.5)
    >>> r.add(1.0); r.add(0.0); r.close(), r.get()
    (0.5, 0.5)
    >>> r.close() is None, r.get()
    (True, 0.5)
    """

    __slots__ = ("_ewm", "_windows", "fading_factor", "n", "total")

    def __init__(self, fading_factor: float = DEFAULT_FADING_FACTOR) -> None:
        if not 0.0 <= fading_factor <= 1.0:
            raise ValueError("fading_factor must be in [0, 1]")
        self.fading_factor = fading_factor
        self._ewm = 0.0
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
        f = self.fading_factor
        self._ewm = f * mean + (1.0 - f) * self._ewm if self._windows else mean
        self._windows += 1

    def get(self) -> float | None:
        """The EWMA of the window means (None before the first closed window)."""
        return self._ewm if self._windows else None
