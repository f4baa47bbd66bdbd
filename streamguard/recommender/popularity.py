"""Most-popular-so-far: an exact ranking of items by interaction count, O(1) per update.

Used twice: as the model's fallback for cold users (and to fill short lists), and as the
baseline of ``streamguard eval-recommender``.

Examples
--------
>>> ranking = PopularityRanking()
>>> for item in ["a", "b", "b", "c", "c", "c"]:
...     ranking.add(item)
>>> ranking.top(2)
[('c', 3), ('b', 2)]
>>> ranking.top(2, exclude={"c"})
[('b', 2), ('a', 1)]
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping

__all__ = ["PopularityRanking"]

_NOTHING: frozenset[str] = frozenset()


class PopularityRanking:
    """Items ordered by count, most popular first; ties keep the older leader first.

    Counts only go up by one, so an increment swaps the item with the first item of its
    count block (the classic constant-time LFU layout) instead of re-sorting. With
    ``max_items`` the least popular item is forgotten when a new one would exceed it.
    """

    def __init__(self, max_items: int | None = None) -> None:
        if max_items is not None and max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.max_items = max_items
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self._count: dict[str, int] = {}
        self._start: dict[int, int] = {}  # count -> index of the first item with it
        self._total = 0

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[str]:
        """Items, most popular first."""
        return iter(self._order)

    @property
    def total(self) -> int:
        """Interactions counted (including those of forgotten items)."""
        return self._total

    @property
    def counts(self) -> Mapping[str, int]:
        """Item -> count (read-only use: a live view for fast lookups)."""
        return self._count

    def count(self, item: str) -> int:
        """How many times ``item`` was added (0 when unknown or forgotten)."""
        return self._count.get(item, 0)

    def add(self, item: str) -> None:
        """Count one interaction with ``item``."""
        count = self._count.get(item)
        if count is None:
            if self.max_items is not None and len(self._order) >= self.max_items:
                self._forget_last()
            count = self._count[item] = 0
            self._pos[item] = len(self._order)
            self._order.append(item)
            self._start.setdefault(0, len(self._order) - 1)
        position = self._pos[item]
        first = self._start[count]
        leader = self._order[first]
        self._order[first], self._order[position] = item, leader
        self._pos[item], self._pos[leader] = first, position
        # The item is now the last of the (count + 1) block, which ends right before.
        self._start.setdefault(count + 1, first)
        following = first + 1
        if following < len(self._order) and self._count[self._order[following]] == count:
            self._start[count] = following
        else:
            del self._start[count]
        self._count[item] = count + 1
        self._total += 1

    def _forget_last(self) -> None:
        item = self._order.pop()
        count = self._count.pop(item)
        del self._pos[item]
        if self._start[count] == len(self._order):
            del self._start[count]

    def top(self, k: int, exclude: Container[str] = _NOTHING) -> list[tuple[str, int]]:
        """The ``k`` most popular items not in ``exclude``, with their counts."""
        out: list[tuple[str, int]] = []
        if k <= 0:
            return out
        for item in self._order:
            if item not in exclude:
                out.append((item, self._count[item]))
                if len(out) == k:
                    break
        return out

    def state(self) -> list[list[str | int]]:
        """``[[item, count], ...]`` most popular first (for snapshots)."""
        return [[item, self._count[item]] for item in self._order]

    @classmethod
    def from_state(
        cls, pairs: Iterable[tuple[str, int]], total: int, max_items: int | None = None
    ) -> PopularityRanking:
        """Rebuild from :meth:`state` pairs (re-sorted, so their order is not trusted)."""
        ranking = cls(max_items)
        ordered = sorted(pairs, key=lambda pair: -pair[1])
        if max_items is not None:
            ordered = ordered[:max_items]
        for index, (item, count) in enumerate(ordered):
            if count < 1:
                raise ValueError(f"popularity count of {item!r} must be >= 1")
            if item in ranking._pos:
                raise ValueError(f"item {item!r} listed twice")
            ranking._order.append(item)
            ranking._pos[item] = index
            ranking._count[item] = count
            ranking._start.setdefault(count, index)
        ranking._total = max(total, sum(ranking._count.values()))
        return ranking
