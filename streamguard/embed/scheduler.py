"""Embedding scheduling: queue texts, embed them in batches, hand the vectors back.

An :class:`EmbeddingScheduler` sits between a consumer of vectors (the drift engine) and
an :class:`~streamguard.embed.base.Embedder`. The consumer ``submit``\\ s texts with a tag
and receives ``on_vectors(items, vectors)`` with one row per ``(text, tag)`` item:

* ``synchronous=True``: texts wait in a list and are embedded inline, ``batch_size`` at a
  time (and on :meth:`~EmbeddingScheduler.flush`): deterministic, no thread (``check``,
  tests);
* a shared ``batcher`` (the worker: one model thread for every stream): texts go to that
  :class:`~streamguard.embed.batcher.MicroBatcher`, whose ``on_batch`` must be
  :func:`dispatch_batch`; it routes each row back to the scheduler that sent it;
* otherwise the scheduler makes its own batcher thread (:attr:`owns_batcher`), started
  by :meth:`~EmbeddingScheduler.start` and stopped by :meth:`~EmbeddingScheduler.close`.

This module imports the batcher only when it makes one, so importing it (and what uses
it) starts no thread and loads no thread-owning class.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> got = []
>>> scheduler = EmbeddingScheduler(HashingEmbedder(dim=8),
...                                lambda items, vectors: got.extend(items),
...                                synchronous=True, batch_size=2)
>>> for i, text in enumerate(["red shoes", "tomato soup", "red shoes"]):
...     scheduler.submit(text, i)
>>> got  # the first batch of two was embedded when it filled
[('red shoes', 0), ('tomato soup', 1)]
>>> scheduler.flush(), got[-1]
(True, ('red shoes', 2))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamguard.embed.base import Embedder, Vectors
from streamguard.embed.cache import EmbeddingCache, embed_items

if TYPE_CHECKING:
    from streamguard.embed.batcher import BatchCallback, Item, MicroBatcher

__all__ = ["EmbeddingScheduler", "dispatch_batch"]


def dispatch_batch(items: list[Item], vectors: Vectors) -> None:
    """``on_batch`` of a batcher shared by several schedulers: route rows to their sender.

    >>> import numpy as np
    >>> from streamguard.embed.hashing import HashingEmbedder
    >>> got = []
    >>> a = EmbeddingScheduler(HashingEmbedder(dim=4), lambda items, v: got.append(items),
    ...                        synchronous=True)
    >>> dispatch_batch([("x", (a, "tag"))], np.ones((1, 4), np.float32))
    >>> got
    [[('x', 'tag')]]
    """
    by_owner: dict[int, tuple[EmbeddingScheduler, list[int]]] = {}
    for row, (_, tag) in enumerate(items):
        owner = tag[0]
        by_owner.setdefault(id(owner), (owner, []))[1].append(row)
    for owner, rows in by_owner.values():
        owner.on_vectors([(items[r][0], items[r][1][1]) for r in rows], vectors[rows])


class EmbeddingScheduler:
    """Queues texts for embedding and delivers their vectors (see the module docstring).

    Parameters
    ----------
    embedder
        The model (or the hashing fake).
    on_vectors
        Called with ``(items, vectors)``: inline when synchronous, else in the batcher's
        thread.
    cache
        Text -> vector cache (share one between schedulers); a new one when ``None``.
    batcher
        A :class:`~streamguard.embed.batcher.MicroBatcher` shared between schedulers,
        whose ``on_batch`` is :func:`dispatch_batch`.
    synchronous
        Embed inline in batches of ``batch_size`` (deterministic; no thread).
    batch_size, max_wait_ms, max_queue
        For the scheduler's own batcher (``batch_size`` also chunks synchronous batches).
    """

    def __init__(
        self,
        embedder: Embedder,
        on_vectors: BatchCallback,
        *,
        cache: EmbeddingCache | None = None,
        batcher: MicroBatcher | None = None,
        synchronous: bool = False,
        batch_size: int = 256,
        max_wait_ms: float = 20.0,
        max_queue: int = 10_000,
    ) -> None:
        self.embedder = embedder
        self.on_vectors = on_vectors
        self.cache = cache if cache is not None else EmbeddingCache()
        self.synchronous = synchronous
        self.batch_size = batch_size
        self.max_wait_ms = max_wait_ms
        self.max_queue = max_queue
        self._pending: list[Item] = []
        self.batcher = batcher
        #: True when :attr:`batcher` is this scheduler's own (its thread, its metrics).
        self.owns_batcher = False
        if not synchronous and batcher is None:
            from streamguard.embed.batcher import MicroBatcher  # the thread, only when needed

            self.batcher = MicroBatcher(
                embedder,
                on_batch=on_vectors,
                cache=self.cache,
                batch_size=batch_size,
                max_wait_ms=max_wait_ms,
                max_queue=max_queue,
            )
            self.owns_batcher = True

    def submit(self, text: str, tag: Any) -> None:
        """Queue ``text``; its vector comes back with ``tag``. Never waits for the model
        unless synchronous (then a full batch is embedded at once)."""
        if self.synchronous:
            self._pending.append((text, tag))
            if len(self._pending) >= self.batch_size:
                self._embed_pending()
        elif self.batcher is not None:
            self.batcher.submit(text, tag if self.owns_batcher else (self, tag))

    def _embed_pending(self) -> None:
        if not self._pending:
            return
        items, self._pending = self._pending, []
        texts = [text for text, _ in items]
        vectors, _ = embed_items(self.embedder, self.cache, texts, self.batch_size)
        self.on_vectors(items, vectors)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the own embedding thread (a no-op when synchronous or shared)."""
        if self.batcher is not None and self.owns_batcher:
            self.batcher.start()

    def flush(self, timeout: float = 60.0) -> bool:
        """Process every text queued so far; False when the batcher timed out."""
        if self.synchronous:
            self._embed_pending()
            return True
        return self.batcher.flush(timeout) if self.batcher is not None else True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop the own embedding thread (a shared one is its owner's to stop)."""
        self.flush(timeout)
        if self.batcher is not None and self.owns_batcher:
            self.batcher.stop(timeout)
