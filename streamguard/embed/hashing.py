"""The hashing embedder: a model-free, deterministic :class:`~streamguard.embed.base.Embedder`.

It hashes words and symbols into a fixed number of buckets (the "hashing trick") and
normalises: deterministic across processes, microseconds per text, no model. The fake
for unit tests, and a model-free mode (``STREAMGUARD_MODEL=hashing``).

Examples
--------
>>> fake = HashingEmbedder(dim=64)
>>> vectors = fake.embed(["red running shoes", "red running shoes", "tomato soup"])
>>> vectors.shape, vectors.dtype.name
((3, 64), 'float32')
>>> round(float(vectors[0] @ vectors[1]), 3), float(vectors[0] @ vectors[2]) < 0.5
(1.0, True)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from streamguard.embed.base import Vectors

__all__ = ["HashingEmbedder"]

_WORDS = re.compile(r"\w+|[^\w\s]+")


class HashingEmbedder:
    """A deterministic bag of hashed words and symbols, normalised (the "hashing trick").

    Texts that share words get similar vectors; texts without common words are nearly
    orthogonal.

    >>> e = HashingEmbedder(dim=32)
    >>> e.dim, e.embed([]).shape
    (32, (0, 32))
    """

    def __init__(self, dim: int = 1024) -> None:
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self._dim = dim

    @property
    def dim(self) -> int:
        """Number of hash buckets."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One normalised row per text (an empty text gets a fixed unit vector)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _WORDS.findall(text.lower()) or [text]:
                # crc32 is deterministic across processes (unlike hash()) and fast
                value = zlib.crc32(token.encode("utf-8"))
                out[row, value % self._dim] += 1.0 if value & 0x80000000 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return out
