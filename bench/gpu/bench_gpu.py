"""The embedder side by side on a lent GPU, with only torch, transformers, tokenizers,
sentence-transformers and numpy installed (run by ``run_h200.sh``).

Prints the table of ``embedder_compare.compare`` on CUDA for short (~12 tokens) and long
(~64 tokens) texts, the worst cosine of the pipelined bf16 path against the CPU float32
reference made by ``prepare_carry.py``, and writes ``$OUT/gpu_compare.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent))

from embedder_compare import compare  # noqa: E402

from streamguard.embed.base import Device  # noqa: E402
from streamguard.embed.transformer import TransformerEmbedder  # noqa: E402


def main() -> int:
    import torch

    build = HERE / "build"
    texts = json.loads((build / "texts.json").read_text())
    sizes = [int(s) for s in os.environ.get("SIZES", "64,256,1024,4096").split(",")]
    count = int(os.environ.get("TEXTS", str(len(texts))))
    device: Device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device {device}: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}")
    started = time.perf_counter()
    model = TransformerEmbedder(str(build / "model"), device=device)
    reference = np.load(build / "reference.npy")
    got = model.embed(texts[: len(reference)])
    cosine = float(np.min(np.sum(got * reference, axis=1)))
    print(f"worst cosine, pipelined {model.dtype} vs CPU float32: {cosine:.5f}")
    rows = compare(device, texts[:count], sizes, model_path=str(build / "model"))
    width = max(len(r["path"]) for r in rows)
    for r in rows:
        print(f"{r['texts']:<6} {r['batch_size']:>5} {r['path']:<{width}} "
              f"{r['texts_per_s']:>12,.0f} {r['vs_before']:>6.2f}x")  # fmt: skip
    result = {"device": device, "cosine_min": cosine, "rows": rows,
              "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    out = Path(os.environ.get("OUT", "."))
    (out / "gpu_compare.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'gpu_compare.json'} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
