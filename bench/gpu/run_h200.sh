#!/usr/bin/env bash
# One command on a lent GPU machine (see ../../../shared/notes/gpu-h200.md):
#   here:  .venv/bin/python bench/gpu/prepare_carry.py
#   there: run(command="bash bench/gpu/run_h200.sh", carry=["bench/gpu/build"], timeout_s=480)
# The device image has torch, transformers, tokenizers, sentence-transformers and numpy;
# StreamGuard's own modules are imported from the working tree (PYTHONPATH), nothing is
# installed. SIZES / TEXTS override the batch sizes and the number of short texts.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export OUT="${OUT:-$PWD/bench/results}"
PY="${PYTHON:-$(command -v python3 || command -v python)}"
test -f bench/gpu/build/texts.json || { echo "run bench/gpu/prepare_carry.py first" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$PY" -c "import torch, transformers, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__)"
"$PY" bench/gpu/bench_gpu.py 2>&1 | tee "$OUT/gpu_compare.txt"
