# StreamGuard — the two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned: an unpinned torch pulls gigabytes of CUDA wheels; 2.13.0 is the CPU build.
TORCH  := torch==2.13.0
DURATION ?= 60

.PHONY: install test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml Makefile
	@# Prometheus, promtool and Alertmanager are real servers in the tests (Debian packages).
	command -v promtool >/dev/null || ./scripts/install-prometheus.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
