"""A bounded LRU cache of text -> embedding, and :func:`embed_items`, which embeds through it.

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

from streamguard.embed.base import Embedder, Vectors

__all__ = ["EmbeddingCache", "embed_items"]


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

    def __getstate__(self) -> dict[str, object]:
        """Pickling: everything but the lock."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

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


def embed_items(
    embedder: Embedder, cache: EmbeddingCache | None, texts: list[str], chunk: int
) -> tuple[Vectors, int]:
    """Vectors for ``texts`` (cache first, distinct misses embedded in chunks of ``chunk``).

    Returns the vectors and how many texts went through the model.

    >>> from streamguard.embed.hashing import HashingEmbedder
    >>> cache = EmbeddingCache()
    >>> vectors, embedded = embed_items(HashingEmbedder(dim=8), cache, ["a", "b", "a"], 2)
    >>> vectors.shape, embedded, len(cache)
    ((3, 8), 2, 2)
    >>> embed_items(HashingEmbedder(dim=8), cache, ["a"], 2)[1]  # a cache hit
    0
    """
    found: dict[str, Vectors] = {}
    misses: list[str] = []
    for text in texts:
        if text in found:
            continue
        vector = cache.get(text) if cache is not None else None
        if vector is None:
            misses.append(text)
            found[text] = np.empty(0, np.float32)  # placeholder: dedupe misses
        else:
            found[text] = vector
    for start in range(0, len(misses), chunk):
        part = misses[start : start + chunk]
        for text, vector in zip(part, embedder.embed(part), strict=True):
            found[text] = vector
            if cache is not None:
                cache.put(text, vector)
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), 0
    return np.vstack([found[t] for t in texts]), len(misses)
