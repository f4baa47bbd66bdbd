"""Which users' recommendation lists to publish, and when.

A user becomes *pending* when something that may change their list happens (they
interacted, or a product on their last published list became unavailable). A pending
user is *due* once ``min_interval_s`` has passed since their last publish, so no user is
published more often than that however fast their events arrive. A due list identical
to the last one published is not published again.

Examples
--------
>>> policy = RefreshPolicy(min_interval_s=10)
>>> policy.mark_changed("ann", now=0.0)
>>> policy.due(now=0.0)
['ann']
>>> policy.accept("ann", ["tent", "stove"], now=0.0)
True
>>> policy.mark_changed("ann", now=1.0)
>>> policy.due(now=5.0)  # published 5 s ago: not yet
[]
>>> policy.due(now=10.0)
['ann']
>>> policy.accept("ann", ["tent", "stove"], now=10.0)  # same list: nothing to publish
False
>>> policy.users_showing("stove")
['ann']
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

__all__ = ["RefreshPolicy"]


class RefreshPolicy:
    """Bounds the publish rate per user and skips unchanged lists.

    Times are seconds on any one clock (the caller's ``now``). Memory is bounded by
    ``max_users`` (published lists and pending users, least recent forgotten first).
    """

    def __init__(self, min_interval_s: float = 5.0, max_users: int = 100_000) -> None:
        if not (math.isfinite(min_interval_s) and min_interval_s >= 0):
            raise ValueError("min_interval_s must be a finite number >= 0")
        if max_users < 1:
            raise ValueError("max_users must be >= 1")
        self.min_interval_s = float(min_interval_s)
        self.max_users = max_users
        self._pending: dict[str, float] = {}  # user -> time of the first unpublished change
        self._queue: list[tuple[float, str]] = []  # (due time, user), one per pending user
        self._published: dict[str, tuple[float, tuple[str, ...]]] = {}  # LRU, oldest first
        self._showing: dict[str, set[str]] = {}  # product -> users whose list shows it

    @property
    def pending(self) -> int:
        """Users waiting to be published."""
        return len(self._pending)

    def pending_since(self, user_id: str) -> float | None:
        """When the user's oldest unpublished change happened, or None."""
        return self._pending.get(user_id)

    def oldest_pending(self) -> float | None:
        """The earliest unpublished change over all users (for a staleness gauge)."""
        return min(self._pending.values(), default=None)

    def mark_changed(self, user_id: str, now: float) -> None:
        """The user's list may have changed at ``now``."""
        if user_id in self._pending:
            return
        if len(self._pending) >= self.max_users:
            # Bounded memory beats completeness here: forget the longest-waiting user.
            del self._pending[next(iter(self._pending))]
        self._pending[user_id] = now
        last = self._published.get(user_id)
        due = now if last is None else max(now, last[0] + self.min_interval_s)
        heapq.heappush(self._queue, (due, user_id))

    def mark_product_changed(self, product_id: str, now: float) -> int:
        """Mark every user whose last published list shows ``product_id``; how many."""
        users = self._showing.get(product_id, ())
        for user_id in list(users):
            self.mark_changed(user_id, now)
        return len(users)

    def due(self, now: float, limit: int | None = None) -> list[str]:
        """Pending users that may be published at ``now`` (longest due first)."""
        out: list[str] = []
        taken: set[str] = set()
        queue, pending = self._queue, self._pending
        while queue and queue[0][0] <= now and (limit is None or len(out) < limit):
            _, user_id = heapq.heappop(queue)
            if user_id not in pending or user_id in taken:
                continue  # forgotten under max_users, accepted directly, or a duplicate
            last = self._published.get(user_id)
            if last is not None and last[0] + self.min_interval_s > now:
                # A stale entry from before a publish: wait for the real due time.
                heapq.heappush(queue, (last[0] + self.min_interval_s, user_id))
                continue
            out.append(user_id)
            taken.add(user_id)
        return out

    def accept(self, user_id: str, product_ids: Sequence[str], now: float) -> bool:
        """Close the user's pending change; True when ``product_ids`` should be published.

        Publishing is recorded only when the list differs from the last one published.
        A due user that is not published stays pending until :meth:`due` returns it, so
        call this for every user ``due`` returned.
        """
        self._pending.pop(user_id, None)
        items = tuple(product_ids)
        last = self._published.pop(user_id, None)
        if last is not None and last[1] == items:
            self._published[user_id] = last
            return False
        if last is not None:
            self._forget_showing(user_id, last[1])
        elif len(self._published) >= self.max_users:
            oldest = next(iter(self._published))
            self._forget_showing(oldest, self._published.pop(oldest)[1])
        self._published[user_id] = (now, items)
        for product_id in items:
            self._showing.setdefault(product_id, set()).add(user_id)
        return True

    def _forget_showing(self, user_id: str, items: tuple[str, ...]) -> None:
        for product_id in items:
            users = self._showing.get(product_id)
            if users is not None:
                users.discard(user_id)
                if not users:
                    del self._showing[product_id]

    def last_published(self, user_id: str) -> tuple[float, tuple[str, ...]] | None:
        """``(time, product_ids)`` of the user's last publish, or None."""
        return self._published.get(user_id)

    def users_showing(self, product_id: str) -> list[str]:
        """Users whose last published list contains ``product_id`` (sorted)."""
        return sorted(self._showing.get(product_id, ()))
