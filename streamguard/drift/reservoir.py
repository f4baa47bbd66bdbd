"""The semantic-drift reference: distinct values and their vectors, reservoir-sampled.

Holds at most ``size`` distinct values. A value already held is not added twice; a new
one fills a free slot, or replaces a random one with probability ``size / seen`` (plain
reservoir sampling over distinct values), or, with ``force``, always (an accepted change
must be in the reference, not one value in a thousand of it).

Examples
--------
>>> import numpy as np
>>> r = Reservoir(2, seed=0)
>>> r.absorb([("a", np.ones(3, np.float32)), ("a", np.ones(3, np.float32))])
True
>>> len(r), r.values, "a" in r, r.vectors().shape
(1, 2, True, (1, 3))
>>> r.absorb([("b", np.ones(3, np.float32)), ("c", np.ones(3, np.float32))], force=True)
True
>>> len(r), "c" in r
(2, True)
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt

__all__ = ["Reservoir"]

Vector = npt.NDArray[np.float32]


class Reservoir:
    """At most ``size`` distinct values and their vectors (see the module docstring)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - reservoir sampling, not crypto
        self.texts: list[str] = []
        self._index: dict[str, int] = {}
        self._vectors: Vector | None = None
        self.seen = 0  # distinct values offered
        self.values = 0  # values (with repeats) absorbed

    def __contains__(self, text: object) -> bool:
        return text in self._index

    def __len__(self) -> int:
        return len(self.texts)

    def vectors(self) -> Vector:
        """The held values' vectors, one row each (in the order of :attr:`texts`)."""
        assert self._vectors is not None
        return self._vectors[: len(self.texts)]

    def loo_distances(self, limit: int = 500, seed: int = 0) -> Vector:
        """Leave-one-out nearest-neighbour cosine distances of (at most ``limit``, drawn
        with ``seed``) held values: how far each lies from the others."""
        ref = self.vectors()
        picks = np.arange(len(ref))
        if len(ref) > limit:
            picks = np.sort(np.random.default_rng(seed).choice(len(ref), limit, replace=False))
        sims = ref[picks] @ ref.T
        sims[np.arange(len(picks)), picks] = -np.inf
        loo: Vector = np.clip(1.0 - sims.max(axis=1), 0.0, 2.0)
        return loo

    def absorb(self, block: list[tuple[str, Vector]], *, force: bool = False) -> bool:
        """Offer a block's values; True when the held set changed."""
        self.values += len(block)
        changed = False
        for text, vector in block:
            if text in self._index:
                continue
            if self._vectors is None:
                self._vectors = np.zeros((self.size, len(vector)), np.float32)
            self.seen += 1
            slot = len(self.texts)
            if slot < self.size:
                self.texts.append(text)
            else:
                slot = self._rng.randrange(self.size if force else self.seen)
                if slot >= self.size:
                    continue
                del self._index[self.texts[slot]]
                self.texts[slot] = text
            self._index[text] = slot
            self._vectors[slot] = vector
            changed = True
        return changed
