"""The Makefile's torch install: the pinned version, and PyTorch's CPU index on request."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def planned_torch_install(*variables: str) -> str:
    """The pip line `make install` would run for torch (a dry run, nothing installed)."""
    plan = subprocess.run(
        ["make", "-n", "-B", "install", *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in plan.splitlines() if "pip install" in line and "torch==" in line]
    assert len(lines) == 1, plan
    return lines[0]


def test_torch_is_pinned_and_uses_the_default_index_by_default() -> None:
    line = planned_torch_install()
    assert '"torch==2.13.0"' in line
    assert "--index-url" not in line


def test_torch_index_selects_the_cpu_build() -> None:
    line = planned_torch_install("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert "--index-url https://download.pytorch.org/whl/cpu" in line
    assert '"torch==2.13.0"' in line
