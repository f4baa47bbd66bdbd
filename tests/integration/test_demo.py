"""``streamguard demo`` end to end: it starts, summarises, drains and stops cleanly."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from streamguard.testing.worker_harness import REPO, free_port

pytestmark = pytest.mark.integration


def test_demo_runs_for_its_duration_and_checks_everything_it_produced() -> None:
    env = {"PATH": "/usr/bin:/bin", "STREAMGUARD_METRICS_PORT": str(free_port())}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streamguard.cli", "demo", "--duration", "6", "--interval", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    final = result.stdout.split("final:", 1)[1]
    match = re.search(r"produced (\d+) \| checked (\d+)", final)
    assert match is not None, result.stdout
    produced, checked = int(match.group(1)), int(match.group(2))
    assert produced > 0
    assert checked == produced
    assert "quarantine" in final and "top reasons" in final
