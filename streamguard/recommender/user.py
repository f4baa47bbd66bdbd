"""What the recommender remembers about one user (see :mod:`.model`).

Its own module so that :mod:`.model` (which learns into it) and :mod:`.snapshot` (which
writes and restores it) both import it, and neither imports the other's private parts.

Examples
--------
>>> user = UserState(window=2)
>>> user.recent.extend(["a", "b", "c"])
>>> list(user.recent), user.scale, user.ts
(['b', 'c'], 1.0, None)
"""

from __future__ import annotations

from collections import deque

__all__ = ["UserState"]


class UserState:
    """A user's last ``window`` items, remembered history, and candidate scores."""

    __slots__ = ("pending", "prior", "recent", "scale", "scores", "seen", "ts")

    def __init__(self, window: int) -> None:
        self.recent: deque[str] = deque(maxlen=window)
        self.seen: dict[str, None] = {}  # an insertion-ordered set, oldest first
        self.scores: dict[str, float] = {}  # candidate -> score * scale
        self.scale = 1.0
        self.prior = 0.0  # weight of the popularity prior, * scale
        self.ts: float | None = None
        # Items learned whose rows are not in ``scores`` yet, with their shares (* scale):
        # the sequence model adds them when the user is next asked for.
        self.pending: list[tuple[str, float]] = []
