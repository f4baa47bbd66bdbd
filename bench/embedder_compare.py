"""The embedder side by side, one run: every path on the same texts (bench_engine.py).

Rows, per device (CPU always, CUDA where present), text length (short: generator titles,
~12 tokens; long: six of them joined, ~64 tokens) and batch size, in texts/s:

* ``torch, one padded batch``: the path before issue 27 (the transformers tokenizer
  call, one padded batch, the forward pass, then the next batch): the baseline;
* ``torch, pipelined``: :class:`TransformerEmbedder` (Rust tokenizer in a helper thread,
  length buckets, pinned memory and non-blocking copies on CUDA);
* ``onnx int8`` / ``onnx fp32`` (CPU): :class:`OnnxEmbedder`;
* ``sentence-transformers encode``: the usual choice (skipped, with a note, when the
  package is not installed);
* ``tokenizer alone``: the transformers call (``return_tensors="pt"``) and the Rust
  ``encode_batch``; ``forward alone``: the model on batches already tokenized and on the
  device (the ceiling).

Each figure is the best of ``passes`` timed passes after a warm-up batch, with a CUDA
synchronisation before each clock read: wall-clock texts/s, and texts per CPU-second of
the process (the fair figure on a shared CPU: a neighbour's time slices do not count;
it counts every thread, so multi-threaded tokenizers show their total cost).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from typing import Any

Embed = Callable[[list[str]], Any]


def long_texts(short: Sequence[str], count: int, join: int = 6) -> list[str]:
    """``count`` texts of ``join`` short ones each (~64 tokens from ~12-token titles)."""
    return [" ".join(short[(i * join + k) % len(short)] for k in range(join)) for i in range(count)]


def _rate(
    run: Embed, texts: list[str], size: int, passes: int, sync: Callable[[], None]
) -> tuple[float, float]:
    """Best wall-clock texts/s and best texts per CPU-second (all of this process's
    threads: on a shared machine the fair figure for CPU paths) over ``passes``."""
    run(texts[:size])
    sync()
    best_wall = best_cpu = float("inf")
    for _ in range(passes):
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(texts), size):
            run(texts[start : start + size])
        sync()
        best_wall = min(best_wall, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(texts) / best_wall, len(texts) / max(best_cpu, 1e-9)


def _legacy(model: Any) -> Embed:
    """The pre-pipeline TransformerEmbedder.embed: HF tokenizer, one padded batch."""
    import torch

    def run(texts: list[str]) -> Any:
        with torch.inference_mode():
            batch = model._tokenizer(
                texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
            ).to(model.device)
            hidden = model._network(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled.float(), p=2, dim=1).cpu().numpy()

    return run


def _forward_only(model: Any, texts: list[str], size: int, passes: int) -> tuple[float, float]:
    import torch

    batches = []
    for start in range(0, len(texts), size):
        batch = model._tokenizer(
            texts[start : start + size], padding=True, truncation=True, return_tensors="pt"
        )
        batches.append({k: v.to(model.device) for k, v in batch.items()})

    def sync() -> None:
        if model.device == "cuda":
            torch.cuda.synchronize()

    best_wall = best_cpu = float("inf")
    with torch.inference_mode():
        model._network(**batches[0])
        sync()
        for _ in range(passes):
            started, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                model._network(**batch)
            sync()
            best_wall = min(best_wall, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(texts) / best_wall, len(texts) / max(best_cpu, 1e-9)


def compare(
    device: str,
    short: list[str],
    sizes: list[int],
    *,
    passes: int = 2,
    threads: int | None = None,
    model_path: str | None = None,
    extra: Sequence[tuple[str, Embed]] = (),
) -> list[dict[str, Any]]:
    """Every path's texts/s on ``device`` (see the module docstring); ``extra``: more
    ``(label, embed)`` paths, run after the ONNX ones (on the CPU)."""
    import torch

    from streamguard.embed.tokens import load_tokenizer
    from streamguard.embed.transformer import DEFAULT_MODEL, TransformerEmbedder

    model_name = model_path or DEFAULT_MODEL
    torch_model = TransformerEmbedder(model_name, device=device, threads=threads)  # type: ignore[arg-type]

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    paths: list[tuple[str, Embed]] = [
        ("torch, one padded batch (before)", _legacy(torch_model)),
        ("torch, pipelined", torch_model.embed),
    ]
    if device == "cpu":
        from streamguard.embed.onnx_runtime import OnnxEmbedder

        for precision in ("int8", "fp32"):
            onnx = OnnxEmbedder(model_name, precision=precision, threads=threads)
            paths.append((f"onnx {precision}", onnx.embed))
        paths += list(extra)
    if importlib.util.find_spec("sentence_transformers") is None:
        print("note: sentence-transformers is not installed: its row is skipped")
    else:
        from sentence_transformers import SentenceTransformer

        from streamguard.embed.transformer import resolve_model_path

        kwargs = {"dtype": torch.bfloat16} if device == "cuda" else {}
        peer = SentenceTransformer(
            resolve_model_path(model_name), device=device, model_kwargs=kwargs
        )

        def peer_encode(size: int) -> Embed:
            return lambda t: peer.encode(t, batch_size=size, show_progress_bar=False)

        for size in sizes:
            paths.append((f"sentence-transformers encode @{size}", peer_encode(size)))
    fast, _ = load_tokenizer(torch_model._tokenizer.backend_tokenizer, 128)
    fast.enable_padding()
    texts_by_kind = {"short": short, "long": long_texts(short, max(64, len(short) // 4))}
    rows: list[dict[str, Any]] = []
    for kind, texts in texts_by_kind.items():
        for size in sizes:
            figures: dict[str, tuple[float, float]] = {}
            for name, run in paths:
                if name.startswith("sentence-transformers") and not name.endswith(f"@{size}"):
                    continue
                label = name.split(" @")[0]
                figures[label] = _rate(run, texts, size, passes, sync)
            figures["tokenizer alone (transformers, pt)"] = _rate(
                lambda t: torch_model._tokenizer(
                    t, padding=True, truncation=True, return_tensors="pt"
                ),
                texts,
                size,
                passes,
                lambda: None,
            )
            figures["tokenizer alone (Rust encode_batch)"] = _rate(
                fast.encode_batch, texts, size, passes, lambda: None
            )
            figures["forward alone (ceiling)"] = _forward_only(torch_model, texts, size, passes)
            base_wall, base_cpu = figures["torch, one padded batch (before)"]
            for path, (wall, cpu) in figures.items():
                rows.append(
                    {
                        "device": device,
                        "dtype": torch_model.dtype if path.startswith("torch") else "",
                        "texts": kind,
                        "batch_size": size,
                        "path": path,
                        "texts_per_s": round(wall, 1),
                        "vs_before": round(wall / base_wall, 2),
                        "texts_per_cpu_s": round(cpu, 1),
                        "cpu_vs_before": round(cpu / base_cpu, 2),
                    }
                )
    return rows
