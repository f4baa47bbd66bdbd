"""A token bucket that does not drift: sleeping too long is paid back, not lost.

Tokens accrue from the clock's real elapsed time (capped at ``burst``), and a request
larger than what is available puts the bucket into debt, returning how long to wait.
Because waits are computed from the clock and not from the requested sleep, oversleeping
(common with ``asyncio.sleep`` at high rates) is made up by the next calls, and the
long-run rate stays exactly ``rate``.

Examples
--------
>>> now = [0.0]
>>> bucket = TokenBucket(10.0, burst=1.0, clock=lambda: now[0])
>>> bucket.reserve(), bucket.reserve(), bucket.reserve()
(0.0, 0.1, 0.2)
>>> now[0] = 0.2
>>> bucket.reserve()
0.1
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Rate limiter: ``rate`` tokens per second, at most ``burst`` saved up.

    ``burst`` defaults to a tenth of a second's worth of tokens (at least one), so a
    sender may batch a little without exceeding the rate over any 100 ms window by much.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 10)
        if self.burst <= 0:
            raise ValueError(f"burst must be > 0, got {burst}")
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def reserve(self, tokens: float = 1.0) -> float:
        """Take ``tokens`` now; return the seconds to wait before acting on them."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= tokens
        if self._tokens >= 0:
            return 0.0
        return round(-self._tokens / self.rate, 9)

    async def acquire(
        self,
        tokens: float = 1.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Wait (asynchronously) until ``tokens`` may be used."""
        delay = self.reserve(tokens)
        if delay > 0:
            await sleep(delay)

    def acquire_blocking(
        self, tokens: float = 1.0, sleep: Callable[[float], object] = time.sleep
    ) -> None:
        """Wait (blocking the thread) until ``tokens`` may be used."""
        delay = self.reserve(tokens)
        if delay > 0:
            sleep(delay)
