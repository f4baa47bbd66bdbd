"""What the console's ``/healthz`` says: whether its topic reader follows the topics.

The reader (:class:`~streamguard.kafka.recent.RecentReader`) runs as the app's background
task and is restarted with back-off when it fails (:func:`~streamguard.console.server.
build_app`); :class:`ReaderHealth` hears of each attempt and failure, and asks the
current reader whether it follows (its ``following`` flag: consumer started, metadata
read). ``/healthz`` answers 200 while it does, else 503 with the reason. The reason
names the state and the error's type only: ``/healthz`` answers without credentials,
and an error's message may carry a host or a user name.

Examples
--------
>>> class Reader:
...     following = False
>>> health = ReaderHealth(clock=lambda: 100.0)
>>> health.status()
(False, {'ok': False, 'kafka': 'not_started', 'reason': 'the topic reader has not started'})
>>> reader = Reader()
>>> health.reading(reader)
>>> health.status()[1]["kafka"]
'connecting'
>>> reader.following = True
>>> health.status()
(True, {'ok': True, 'kafka': 'following'})
>>> health.failed(ConnectionError("broker.internal:9092 refused"), retry_in_s=4.0)
>>> health.status()[1]["reason"]
'reading the topics failed (ConnectionError); retrying in 4 s'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Follower", "ReaderHealth"]


class Follower(Protocol):
    """A topic reader that says whether it follows its topics now."""

    @property
    def following(self) -> bool:
        """True while it reads."""
        ...


class ReaderHealth:
    """The state of the console's topic reader, for ``/healthz`` (module docs)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reader: Follower | None = None
        self._error: str | None = None
        self._retry_at = 0.0
        #: Failed attempts so far.
        self.failures = 0

    def reading(self, reader: Follower) -> None:
        """A reader starts (the first attempt, or again after a failure)."""
        self._reader = reader

    def failed(self, error: BaseException, retry_in_s: float) -> None:
        """The reader stopped with ``error``; another starts in ``retry_in_s`` seconds."""
        self._reader = None
        self._error = type(error).__name__
        self._retry_at = self._clock() + retry_in_s
        self.failures += 1

    @property
    def following(self) -> bool:
        """Whether the current reader follows the topics now."""
        return self._reader is not None and bool(self._reader.following)

    def status(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, body)``: the body of ``/healthz`` (``kafka``: ``following``,
        ``connecting``, ``failed`` or ``not_started``; ``reason`` when not healthy)."""
        if self.following:
            return True, {"ok": True, "kafka": "following"}
        if self._reader is not None:
            reason = "connecting to the broker"
            if self._error is not None:
                reason += f" (the last attempt failed: {self._error})"
            return False, {"ok": False, "kafka": "connecting", "reason": reason}
        if self._error is not None:
            wait = max(0.0, self._retry_at - self._clock())
            reason = f"reading the topics failed ({self._error}); retrying in {wait:.0f} s"
            return False, {"ok": False, "kafka": "failed", "reason": reason}
        return False, {
            "ok": False,
            "kafka": "not_started",
            "reason": "the topic reader has not started",
        }
