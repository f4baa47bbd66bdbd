# StreamGuard — the two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned and installed first. PyPI's torch==2.13.0 for Linux is the CUDA build
# (gigabytes of nvidia-* wheels); PyTorch's CPU index has the CPU build of the same
# version: `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu` (README).
# Empty by default: the development machines and CI here carry the CPU wheel locally.
TORCH  := torch==2.13.0
TORCH_INDEX ?=
DURATION ?= 60

.PHONY: install test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml Makefile
	@# Prometheus, promtool and Alertmanager are real servers in the tests (Debian packages).
	command -v promtool >/dev/null || ./scripts/install-prometheus.sh
	@# Headless chromium loads the console and the HTML report in the browser tests.
	command -v chromium >/dev/null || ./scripts/install-chromium.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check streamguard tests bench
	$(BIN)/ruff format --check streamguard tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

demo: $(STAMP)
	$(BIN)/streamguard demo --duration $(DURATION)

# Every bench/bench_<name>.py, each writing bench/results/<name>.json, then one summary
# table. Extra arguments per script: BENCH_ARGS_<name>, e.g. BENCH_ARGS_memory="--events 200000".
bench: $(STAMP)
	@failed=""; for script in bench/bench_*.py; do \
	  name=$$(basename $$script .py); name=$${name#bench_}; \
	  eval "args=\$${BENCH_ARGS_$$name:-}"; \
	  echo "== $$script $$args"; \
	  $(BIN)/python $$script $$args || failed="$$failed $$name"; \
	done; \
	echo; $(BIN)/python bench/summary.py; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
