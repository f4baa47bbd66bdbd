"""The recommender's content embedder: hashing, or a model loaded off the start path.

In the recommender's child process the model (ONNX Runtime or torch, one CPU thread)
loads in a background thread once the first product text is to be embedded (not at
start: a catalogue without texts never loads it): the child answers its parent at once, and
:meth:`~streamguard.recommender.content.ContentIndex.refresh` embeds nothing until the
model is :attr:`BackgroundEmbedder.ready` (a first ONNX export can take longer than the
parent waits for an answer). A model that fails to load is logged once and leaves the
content path empty; recommendations go on without it.

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> lazy = BackgroundEmbedder(lambda: HashingEmbedder(dim=8))
>>> lazy.wait(10.0), lazy.dim, lazy.embed(["a"]).shape
(True, 8, (1, 8))
>>> content_embedder("hashing").dim
1024
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Literal

from streamguard.embed.base import Embedder, Vectors
from streamguard.embed.hashing import HashingEmbedder

__all__ = ["BackgroundEmbedder", "content_embedder"]

log = logging.getLogger(__name__)


class BackgroundEmbedder:
    """An :class:`~streamguard.embed.base.Embedder` whose model loads in a thread, started
    the first time it is asked whether it is :attr:`ready` (or :meth:`wait`-ed for): a
    recommender whose catalogue has no text yet loads no model, and spends neither the
    memory nor the start-up CPU."""

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self._model: Embedder | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._load, args=(factory,), name="content-embedder", daemon=True
        )
        self._start_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread.ident is None:
                self._thread.start()

    @property
    def started(self) -> bool:
        """Whether loading has begun (it begins on the first :attr:`ready` or :meth:`wait`)."""
        return self._thread.ident is not None

    def _load(self, factory: Callable[[], Embedder]) -> None:
        try:
            self._model = factory()
        except Exception:  # the content path is optional: say why, recommend without it
            log.exception("recommender: the content embedder did not load; content is off")
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        """Whether the model is loaded (False while loading, and after a failure); the
        first call starts loading it."""
        if self._model is None and self._thread.ident is None:
            self._start()
        return self._model is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Start loading if not yet begun, wait until it ended; whether the model is ready."""
        self._start()
        self._done.wait(timeout)
        return self.ready

    def _get(self) -> Embedder:
        if self._model is None:
            raise RuntimeError("the content embedder is not loaded (yet)")
        return self._model

    @property
    def dim(self) -> int:
        """The model's vector length (RuntimeError until it is ready)."""
        return self._get().dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with the model (RuntimeError until it is ready)."""
        return self._get().embed(texts)


def content_embedder(
    model: str = "hashing", backend: str = "auto", cache_dir: str | None = None
) -> Embedder:
    """The embedder of a recommender's content index: ``hashing`` (model-free), or
    ``model`` on the CPU with one thread (``backend``: ``torch``, else ONNX Runtime),
    loaded in the background (:class:`BackgroundEmbedder`)."""
    if model == "hashing":
        return HashingEmbedder()
    chosen: Literal["torch", "onnx"] = "torch" if backend == "torch" else "onnx"

    def load() -> Embedder:
        from streamguard.embed.backend import load_embedder

        return load_embedder(model, "cpu", chosen, threads=1, cache_dir=cache_dir)

    return BackgroundEmbedder(load)
