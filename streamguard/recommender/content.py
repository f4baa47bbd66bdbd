"""Products by meaning: the :class:`~.content_source.ContentSource` the recommender reads.

:class:`ContentIndex` keeps one unit vector per product (its :func:`product_text`:
title, description, category or genres, embedded by an injected
:class:`~streamguard.embed.base.Embedder`) and each product's ``k`` nearest products by
cosine. It is never on the record's path: :meth:`ContentIndex.observe` only queues a
product whose text changed, and :meth:`ContentIndex.refresh` (the recommender's refresh
cadence, or a background step) embeds up to ``max_batch`` queued texts in one call and
updates the neighbour lists with numpy matrix products, incrementally: the rows of the
new or changed products (and of those that listed a changed or dropped one) are
recomputed against every held vector, and each new vector enters the other lists whose
``k``-th best it beats. :meth:`ContentIndex.neighbours` is a dict lookup.

Bounded: at most ``max_items`` vectors; past it the product whose text was seen least
recently goes first. A ``delete`` drops a product's vector; other updates without text
(a stock change) keep it.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> index = ContentIndex(HashingEmbedder(dim=256), k=2)
>>> for pid, title in [("p1", "red running shoes"), ("p2", "red trail running shoes"),
...                    ("p3", "tomato soup")]:
...     _ = index.observe({"product_id": pid, "op": "upsert", "title": title})
>>> index.pending, "p1" in index
(3, False)
>>> index.refresh()
3
>>> [item for item, _ in index.neighbours("p1")]
['p2']
>>> index.neighbours("unknown")
()
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.embed.base import Embedder
from streamguard.recommender.content_source import attach_content

__all__ = [
    "ContentIndex",
    "Neighbours",
    "attach_content",
    "index_catalogue",
    "product_text",
]

#: A product's nearest products by cosine, best first.
Neighbours = tuple[tuple[str, float], ...]
_EMPTY: Neighbours = ()
#: Most score-matrix cells computed at once (float32: 16 MiB).
_CELLS = 1 << 22


def _words(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def product_text(record: Mapping[str, Any]) -> str | None:
    """The text a product is embedded by: title, description, then its genres
    (``attributes.genres``, MovieLens) or else its category; None when it has none.

    >>> product_text({"title": "Toy Story (1995)", "category": "movies/adventure",
    ...               "attributes": {"genres": ["Adventure", "Animation"]}})
    'Toy Story (1995). Adventure, Animation'
    >>> product_text({"title": "Tent", "category": "outdoor/camping_gear"})
    'Tent. outdoor camping gear'
    >>> product_text({"product_id": "p1", "stock": 0}) is None
    True
    """
    parts = [_words(record.get("title")), _words(record.get("description"))]
    attributes = record.get("attributes")
    genres = attributes.get("genres") if isinstance(attributes, Mapping) else None
    named = [g.strip() for g in genres if _words(g)] if isinstance(genres, list) else []
    if named:
        parts.append(", ".join(named))
    else:
        category = _words(record.get("category"))
        parts.append(category.replace("/", " ").replace("_", " ") if category else None)
    text = ". ".join(part for part in parts if part)
    return text or None


def index_catalogue(
    index: ContentIndex, records: Iterable[Mapping[str, Any] | None], *, batch: int = 1024
) -> int:
    """Feed product records to ``index`` and embed them all, ``batch`` texts per
    ``embed`` call (an evaluation's catalogue, up front); returns the products queued.

    >>> from streamguard.embed.hashing import HashingEmbedder
    >>> index = ContentIndex(HashingEmbedder(dim=32))
    >>> index_catalogue(index, [{"product_id": "a", "title": "x"}, None, {"title": "y"}])
    1
    >>> len(index), index.pending
    (1, 0)
    """
    queued = sum(index.observe(record) for record in records if isinstance(record, Mapping))
    while index.pending:
        index.refresh(max_batch=batch)
    return queued


class ContentIndex:
    """Unit vectors of products and their ``k`` nearest by cosine, refreshed in batches.

    Parameters
    ----------
    embedder
        Turns texts into unit vectors (called only from :meth:`refresh`).
    k
        Neighbours kept per product.
    max_items
        Vectors held at most (the least recently seen text goes first).
    min_cosine
        Neighbours need a cosine above this (and above 0).
    """

    def __init__(
        self, embedder: Embedder, *, k: int = 20, max_items: int = 100_000, min_cosine: float = 0.0
    ) -> None:
        if k < 1 or max_items < 1:
            raise ValueError("k and max_items must be >= 1")
        self.embedder = embedder
        self.k = k
        self.max_items = max_items
        self.min_cosine = max(float(min_cosine), 0.0)
        self._pending: dict[str, str] = {}  # product -> text to embed, oldest first
        self._texts: dict[str, str] = {}  # held products, least recently seen first
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []  # slot -> product
        self._free: list[int] = []
        self._vectors: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._kth: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._lists: dict[str, Neighbours] = {}
        self._listed_by: dict[str, set[str]] = {}  # product -> products whose list has it
        self._stale: set[str] = set()  # held products whose list must be recomputed

    # ------------------------------------------------------------------ reading
    def neighbours(self, item: str) -> Neighbours:
        """Up to ``k`` ``(product, cosine)`` nearest to ``item``, best first; empty
        without a vector."""
        return self._lists.get(item, _EMPTY)

    def similarity(self, items: Sequence[str], anchors: Sequence[tuple[str, float]]) -> list[float]:
        """For each of ``items``, the weighted sum of its cosines to the ``(product,
        weight)`` ``anchors`` (one matrix-vector product); 0 for items without a vector,
        and anchors without one add nothing."""
        slot = self._slot
        held = [(s, w) for a, w in anchors if (s := slot.get(a)) is not None]
        if not held or not items:
            return [0.0] * len(items)
        vectors = self._vectors
        if len(held) == 1:
            profile = vectors[held[0][0]] * np.float32(held[0][1])
        else:
            weights = np.array([w for _, w in held], dtype=np.float32)
            profile = weights @ vectors[[s for s, _ in held]]
        # Slot 0 stands in for items without a vector; their 0 is set afterwards.
        slots = [slot.get(item, -1) for item in items]
        scores: list[float] = (vectors[[max(s, 0) for s in slots]] @ profile).tolist()
        return [score if s >= 0 else 0.0 for score, s in zip(scores, slots, strict=True)]

    def __contains__(self, item: object) -> bool:
        """Whether ``item`` has a vector."""
        return item in self._slot

    def __len__(self) -> int:
        """Products with a vector."""
        return len(self._slot)

    @property
    def pending(self) -> int:
        """Texts queued for the next :meth:`refresh`."""
        return len(self._pending)

    @property
    def due(self) -> bool:
        """Whether :meth:`refresh` has work: texts queued or lists to refill."""
        return bool(self._pending or self._stale)

    # ------------------------------------------------------------------ feeding
    def observe(self, record: Mapping[str, Any]) -> bool:
        """Apply a product record: queue its text when new or changed, drop a deleted
        product. Cheap (no embedding); True when something was queued or dropped."""
        product_id = record.get("product_id")
        if not isinstance(product_id, str) or not product_id:
            return False
        if record.get("op") == "delete":
            return self.remove(product_id)
        text = product_text(record)
        return False if text is None else self.queue(product_id, text)

    def queue(self, product_id: str, text: str) -> bool:
        """Queue ``text`` as ``product_id``'s unless it already has it; True when queued."""
        if product_id in self._texts:  # seen again: least recently seen goes first
            self._texts[product_id] = self._texts.pop(product_id)
        if self._texts.get(product_id) == text and product_id not in self._pending:
            return False
        self._pending.pop(product_id, None)
        self._pending[product_id] = text
        if len(self._pending) > self.max_items:
            del self._pending[next(iter(self._pending))]
        return True

    def texts(self) -> dict[str, str]:
        """Every product's text, embedded or queued, least recently seen first (what a
        snapshot keeps: the vectors are computed again from it)."""
        return {**self._texts, **self._pending}

    def remove(self, product_id: str) -> bool:
        """Drop ``product_id``'s vector (and any queued text); True when it had either."""
        queued = self._pending.pop(product_id, None) is not None
        if product_id not in self._slot:
            return queued
        self._drop(product_id)
        return True

    def _drop(self, product_id: str) -> None:
        slot = self._slot.pop(product_id)
        del self._texts[product_id]
        self._ids[slot] = None
        self._vectors[slot] = 0.0
        self._kth[slot] = 0.0
        self._free.append(slot)
        self._set_list(product_id, _EMPTY)
        del self._lists[product_id]
        self._stale.discard(product_id)
        # Out of the lists that held it now; they are refilled at the next refresh.
        for other in self._listed_by.pop(product_id, ()):
            kept = tuple(pair for pair in self._lists[other] if pair[0] != product_id)
            self._lists[other] = kept
            self._kth[self._slot[other]] = 0.0
            self._stale.add(other)

    # ------------------------------------------------------------------ refreshing
    def refresh(self, max_batch: int = 256) -> int:
        """Embed up to ``max_batch`` queued texts (one ``embed`` call) and update the
        neighbour lists; returns the texts embedded."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if not getattr(self.embedder, "ready", True):  # a model still loading: later
            return 0
        batch = list(itertools.islice(self._pending.items(), max_batch))
        for product_id, _ in batch:
            del self._pending[product_id]
        changed: dict[str, set[str]] = {}  # product -> the lists that held its old vector
        if batch:
            vectors = self._unit(self.embedder.embed([text for _, text in batch]))
            for product_id, _ in batch:
                if product_id in self._slot:
                    changed[product_id] = set(self._listed_by.get(product_id, ()))
            for (product_id, text), vector in zip(batch, vectors, strict=True):
                self._store(product_id, text, vector)
        fresh = [pid for pid, _ in batch if pid in self._slot]
        for _ in range(2):  # the second pass: lists a changed vector fell out of
            rows = list(dict.fromkeys([*fresh, *(p for p in self._stale if p in self._slot)]))
            self._stale.clear()
            if rows:
                self._recompute(rows, set(fresh), changed)
            fresh, changed = [], {}
        return len(batch)

    def _unit(self, vectors: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        out = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = np.divide(
            out, norms, out=np.zeros_like(out), where=norms > 0
        )
        return unit

    def _store(self, product_id: str, text: str, vector: npt.NDArray[np.float32]) -> None:
        slot = self._slot.get(product_id)
        if slot is None:
            while len(self._slot) >= self.max_items:
                self._drop(next(iter(self._texts)))
            slot = self._free.pop() if self._free else self._grow(vector.shape[0])
            self._slot[product_id] = slot
            self._ids[slot] = product_id
            self._lists.setdefault(product_id, _EMPTY)
        self._texts.pop(product_id, None)
        self._texts[product_id] = text
        self._vectors[slot] = vector

    def _grow(self, dim: int) -> int:
        used = len(self._ids)
        if self._vectors.shape[1] != dim and used:
            raise ValueError(f"embedder changed its dimension ({self._vectors.shape[1]} -> {dim})")
        if used >= self._vectors.shape[0]:
            capacity = min(max(64, 2 * used), max(self.max_items, used + 1))
            vectors = np.zeros((capacity, dim), dtype=np.float32)
            kth = np.zeros(capacity, dtype=np.float32)
            if used:
                vectors[:used] = self._vectors[:used]
                kth[:used] = self._kth[:used]
            self._vectors, self._kth = vectors, kth
        self._ids.append(None)
        return used

    def _recompute(self, rows: list[str], fresh: set[str], changed: Mapping[str, set[str]]) -> None:
        """Full lists for ``rows``; ``fresh`` vectors also enter the lists of the others
        (or update their score there). A list that held a ``changed`` product whose new
        score no longer beats the list's ``k``-th is marked stale (recomputed next)."""
        high = len(self._ids)
        held = self._vectors[:high]
        in_rows = np.zeros(high, dtype=bool)
        in_rows[[self._slot[p] for p in rows]] = True
        floor = np.maximum(self._kth[:high], self.min_cosine)
        entering: dict[int, list[tuple[str, float]]] = {}
        chunk = max(1, _CELLS // max(high, 1))
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            slots = np.array([self._slot[p] for p in part])
            scores = held[slots] @ held.T
            scores[np.arange(len(part)), slots] = -np.inf  # never itself
            for product_id, row in zip(part, scores, strict=True):
                self._set_list(product_id, self._top(row))
            new = [i for i, p in enumerate(part) if p in fresh]
            if not new:
                continue
            beats = scores[new] > floor[None, :]
            beats[:, in_rows] = False
            for i, j in zip(*np.nonzero(beats), strict=True):
                row_of = new[int(i)]
                entering.setdefault(int(j), []).append((part[row_of], float(scores[row_of, j])))
            for i in new:
                for lister in changed.get(part[i], ()):
                    slot = self._slot.get(lister)
                    if slot is not None and not in_rows[slot] and not beats[new.index(i), slot]:
                        self._stale.add(lister)
        for slot, candidates in entering.items():
            owner = self._ids[slot]
            if owner is None:
                continue
            merged = dict(self._lists.get(owner, _EMPTY))
            merged.update(candidates)
            best = sorted(merged.items(), key=lambda pair: -pair[1])[: self.k]
            self._set_list(owner, tuple(best))

    def _top(self, row: npt.NDArray[np.float32]) -> Neighbours:
        k = min(self.k, row.shape[0])
        if k == 0:
            return _EMPTY
        top = np.argpartition(-row, k - 1)[:k] if row.shape[0] > k else np.arange(row.shape[0])
        top = top[np.argsort(-row[top], kind="stable")]
        ids = self._ids
        return tuple(
            (owner, float(row[j]))
            for j in top
            if row[j] > self.min_cosine and (owner := ids[j]) is not None
        )

    def _set_list(self, product_id: str, neighbours: Neighbours) -> None:
        for other, _ in self._lists.get(product_id, _EMPTY):
            listed = self._listed_by.get(other)
            if listed is not None:
                listed.discard(product_id)
                if not listed:
                    del self._listed_by[other]
        for other, _ in neighbours:
            self._listed_by.setdefault(other, set()).add(product_id)
        self._lists[product_id] = neighbours
        slot = self._slot.get(product_id)
        if slot is not None:
            self._kth[slot] = neighbours[-1][1] if len(neighbours) >= self.k else 0.0
