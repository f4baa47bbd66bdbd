"""Choosing the model runtime: ``STREAMGUARD_EMBEDDER_BACKEND=auto|torch|onnx``.

* ``torch``: :class:`~streamguard.embed.transformer.TransformerEmbedder` (CUDA or CPU);
* ``onnx``: :class:`~streamguard.embed.onnx_runtime.OnnxEmbedder` (int8, CPU);
* ``auto``: torch where it will run on CUDA, ONNX on the CPU.

``auto`` decides without importing torch when the machine has no NVIDIA driver (no
``/proc/driver/nvidia/version`` on Linux), so a CPU run with a cached export never pays
for torch's import. When the ONNX backend cannot be had (``onnxruntime`` missing, a hub
id instead of a local directory, a failed export) :func:`load_embedder` logs one warning
and falls back to torch on the CPU.

Examples
--------
>>> choose_backend("onnx", "cpu"), choose_backend("torch", "auto"), choose_backend("auto", "cpu")
('onnx', 'torch', 'onnx')
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Literal

from streamguard.embed.base import Device, Embedder

__all__ = ["Backend", "choose_backend", "cuda_present", "load_embedder"]

log = logging.getLogger(__name__)

#: The setting's values.
Backend = Literal["auto", "torch", "onnx"]
_warned: set[str] = set()


def cuda_present() -> bool:
    """Whether torch would see a CUDA device (imports torch only where one may exist)."""
    if sys.platform == "linux" and not Path("/proc/driver/nvidia/version").exists():
        return False
    if sys.platform == "darwin":
        return False
    import torch

    return bool(torch.cuda.is_available())


def choose_backend(backend: Backend, device: Device) -> Literal["torch", "onnx"]:
    """The runtime ``backend`` names on ``device`` (``auto``: torch on CUDA, else ONNX)."""
    if backend not in ("auto", "torch", "onnx"):
        raise ValueError(f"embedder backend must be auto, torch or onnx, got {backend!r}")
    if backend != "auto":
        return backend
    if device == "cpu":
        return "onnx"
    if device == "cuda":
        return "torch"
    return "torch" if cuda_present() else "onnx"


def load_embedder(
    model: str,
    device: Device = "auto",
    backend: Backend = "auto",
    *,
    threads: int | None = None,
    cache_dir: str | None = None,
) -> Embedder:
    """The embedder for ``model`` on the chosen runtime (see the module docstring).

    ``threads``: CPU threads for the model (both runtimes). An explicit ``onnx`` with
    ``device='cuda'`` still runs on the CPU (ONNX Runtime's CPU provider).
    """
    from streamguard.embed.transformer import TransformerEmbedder

    chosen = choose_backend(backend, device)
    if chosen == "onnx":
        try:
            from streamguard.embed.onnx_runtime import OnnxEmbedder

            return OnnxEmbedder(model, threads=threads, cache_dir=cache_dir)
        except Exception as exc:  # the fallback is the point: say why once, keep running
            if model not in _warned:
                _warned.add(model)
                log.warning(
                    "ONNX Runtime backend unavailable for %s (%s: %s); using torch on the CPU",
                    model,
                    type(exc).__name__,
                    exc,
                )
        device = "cpu"
    return TransformerEmbedder(model, device=device, threads=threads if device != "cuda" else None)
