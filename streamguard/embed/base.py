"""The embedding contract: :class:`Embedder` turns texts into unit vectors.

Every backend implements it: :class:`~streamguard.embed.hashing.HashingEmbedder` (the
model-free fake), :class:`~streamguard.embed.transformer.TransformerEmbedder` (torch,
imported lazily), :class:`~streamguard.embed.process.ProcessEmbedder` (a model in a child
process). ``embed(texts)`` returns one L2-normalised float32 row per text, so cosine
similarity is a dot product.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> def first_row(embedder: Embedder, text: str) -> Vectors:
...     return embedder.embed([text])[0]
>>> first_row(HashingEmbedder(dim=8), "red shoes").shape
(8,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Device", "Embedder", "Vectors"]

#: Where a model runs: ``auto`` picks CUDA when torch sees a device, else the CPU.
Device = Literal["auto", "cuda", "cpu"]
#: A ``(texts, dim)`` float32 matrix of unit rows.
Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text)."""

    @property
    def dim(self) -> int:
        """Length of each vector."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """An ``(len(texts), dim)`` float32 array of unit vectors."""
