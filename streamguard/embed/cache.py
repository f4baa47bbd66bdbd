"""A bounded LRU cache of text -> embedding, shared by the batcher and the engine.

Categories, brands and popular queries repeat endlessly; each is embedded once.
Thread-safe: the batcher thread fills it while the pipeline thread reads it.

Examples
--------
>>> import numpy as np
>>> cache = EmbeddingCache(max_entries=2)
>>> cache.put("a", np.ones(2, dtype=np.float32)); cache.put("b", np.zeros(2, dtype=np.float32))
>>> cache.get("a") is not None, cache.get("zzz")
(True, None)
>>> cache.put("c", np.ones(2, dtype=np.float32))  # evicts "b", the least recently used
>>> cache.get("b"), len(cache), (cache.hits, cache.misses)
(None, 2, (1, 2))
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

__all__ = ["EmbeddingCache"]


class EmbeddingCache:
    """Least-recently-used map from text to vector, at most ``max_entries`` long."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._data: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, text: str) -> npt.NDArray[np.float32] | None:
        """The cached vector (now most recently used), or None; counts a hit or a miss."""
        with self._lock:
            vector = self._data.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._data.move_to_end(text)
            self.hits += 1
            return vector

    def peek(self, text: str) -> npt.NDArray[np.float32] | None:
        """The cached vector without touching recency or the hit/miss counters."""
        return self._data.get(text)

    def put(self, text: str, vector: npt.NDArray[np.float32]) -> None:
        """Store ``vector`` for ``text``, evicting the least recently used beyond the bound."""
        with self._lock:
            self._data[text] = vector
            self._data.move_to_end(text)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
