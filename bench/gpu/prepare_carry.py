"""Write what a lent GPU machine needs into ``bench/gpu/build/`` (git-ignored, < 64 MiB).

Run here (``.venv/bin/python bench/gpu/prepare_carry.py``), then ``run_h200.sh`` there
with ``carry=["bench/gpu/build"]``. It writes

* ``model/``: the bundled all-MiniLM-L6-v2 as float16 safetensors (~45 MB, as
  ../shared/notes/gpu-h200.md describes) with its config and tokenizer files; and
* ``texts.json``: 32,768 distinct generator product titles (the device image has no
  StreamGuard dependencies, so the texts travel ready-made);
* ``reference.npy``: this machine's float32 CPU embeddings of the first 256 texts, for
  the cosine check on the GPU.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_engine import _distinct_texts  # noqa: E402

from streamguard.embed.transformer import TransformerEmbedder, resolve_model_path  # noqa: E402


def main(count: int = 32_768) -> int:
    import torch
    from safetensors.torch import load_file, save_file

    out = HERE / "build"
    model = out / "model"
    model.mkdir(parents=True, exist_ok=True)
    source = Path(resolve_model_path("default"))
    weights = {
        k: v.to(torch.float16).contiguous()
        for k, v in load_file(source / "model.safetensors").items()
    }
    save_file(weights, str(model / "model.safetensors"))
    for path in source.iterdir():  # config, tokenizer, sentence-transformers' modules
        if path.is_dir():
            shutil.copytree(path, model / path.name, dirs_exist_ok=True)
        elif path.name != "model.safetensors":
            shutil.copy2(path, model / path.name)
    texts = _distinct_texts(count)
    (out / "texts.json").write_text(json.dumps(texts))
    reference = TransformerEmbedder(device="cpu").embed(texts[:256])
    np.save(out / "reference.npy", reference)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
