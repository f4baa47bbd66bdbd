"""The CPU backend: the encoder as an int8 ONNX Runtime session.

:class:`OnnxEmbedder` runs the model that :func:`~streamguard.embed.onnx_export.
ensure_onnx_model` exported from the shipped weights (int8 by default; no torch at run
time once the export is cached). Texts are tokenized by the Rust fast tokenizer in one
``encode_batch`` call and run in length buckets (:mod:`~streamguard.embed.tokens`) of
at most ``bucket_tokens`` padded tokens, so short texts pay for no padding and each run's
activations stay in the core's cache. ONNX Runtime's ``SkipLayerNormalization`` fusion
is turned off (:data:`DISABLED_OPTIMIZERS`): in ONNX Runtime's profile its CPU kernel
took ~4x the time of the ``Add`` and ``LayerNormalization`` it replaces (17% of the int8
run). Pooling and normalisation are inside the graph: each row is a unit vector, as
with :class:`~streamguard.embed.transformer.TransformerEmbedder` (cosine >= 0.99 to its
float32 vectors).

Examples
--------
>>> embedder = OnnxEmbedder(threads=1)  # doctest: +SKIP
>>> embedder.embed(["wireless earbuds"]).shape, embedder.dtype  # doctest: +SKIP
((1, 384), 'int8')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.embed.base import Vectors
from streamguard.embed.onnx_export import Precision, ensure_onnx_model
from streamguard.embed.tokens import encode, load_tokenizer
from streamguard.embed.transformer import DEFAULT_MODEL, resolve_model_path

__all__ = ["DEFAULT_BUCKET_TOKENS", "DISABLED_OPTIMIZERS", "OnnxEmbedder"]

log = logging.getLogger(__name__)

#: Padded tokens per forward pass (see :class:`OnnxEmbedder`'s ``bucket_tokens``).
DEFAULT_BUCKET_TOKENS = 384
#: ONNX Runtime graph rewrites left out of the session: the fused ``SkipLayerNormalization``
#: measured slower than what it fuses (int8 MiniLM, one thread: 1.2x texts per CPU-second
#: without it, short and ~64-token texts alike; the embeddings are unchanged).
DISABLED_OPTIMIZERS: tuple[str, ...] = ("SkipLayerNormFusion",)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (or another local BERT-style encoder) on ONNX Runtime's CPU.

    Parameters
    ----------
    model
        Model directory; the default is the bundled all-MiniLM-L6-v2. Hub ids are not
        supported (the export needs the weights on disk).
    precision
        ``int8`` (dynamic quantization, ~2-4x float32's speed) or ``fp32``.
    max_length
        Tokens kept per text.
    threads
        Intra-op threads (``None``: ONNX Runtime's default, one per core).
    cache_dir
        Where exports are kept (default ``~/.cache/streamguard/onnx``).
    bucket_size
        Most texts per forward pass; a call's texts are sorted by length first.
    bucket_tokens
        Most padded tokens (texts x longest) per forward pass, ``None`` for no limit
        (384 measured best for int8 MiniLM on one core: 256-512 within noise).
    model_file
        An exported ``model.onnx`` of ``model`` to run instead of the cached export
        (nothing is exported then; the bench compares exports this way).
    disabled_optimizers
        ONNX Runtime graph rewrites to leave out (default :data:`DISABLED_OPTIMIZERS`).
    """

    backend = "onnx"
    device = "cpu"

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        precision: Precision = "int8",
        max_length: int = 128,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
        bucket_size: int = 128,
        bucket_tokens: int | None = DEFAULT_BUCKET_TOKENS,
        model_file: str | Path | None = None,
        disabled_optimizers: Sequence[str] = DISABLED_OPTIMIZERS,
    ) -> None:
        if max_length < 1 or bucket_size < 1 or (bucket_tokens is not None and bucket_tokens < 1):
            raise ValueError("max_length, bucket_size and bucket_tokens must be >= 1")
        import onnxruntime as ort

        self.model = str(model)
        path = Path(resolve_model_path(model))
        if model_file is not None:
            onnx_path = Path(model_file)
        else:
            onnx_path = ensure_onnx_model(path, precision, cache_dir)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        self._session: Any = ort.InferenceSession(
            str(onnx_path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(disabled_optimizers),
        )
        self._tokenizer, self._pad_id = load_tokenizer(path, max_length)
        config = json.loads(Path(path, "config.json").read_text())
        self._dim = int(config["hidden_size"])
        self.dtype: str = precision
        self.path = onnx_path
        self.bucket_size = bucket_size
        self.bucket_tokens = bucket_tokens
        self.max_length = max_length
        log.info(
            "embedding model %s on cpu (onnxruntime %s, dim %d)", self.model, precision, self._dim
        )

    @property
    def dim(self) -> int:
        """Hidden size of the model (384 for MiniLM-L6)."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for ``texts``, one row each, in their order."""
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        buckets = encode(self._tokenizer, texts, self.bucket_size, self._pad_id, self.bucket_tokens)
        for batch in buckets:
            (vectors,) = self._session.run(
                ["embeddings"],
                {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            )
            out[batch.rows] = vectors
        return out
