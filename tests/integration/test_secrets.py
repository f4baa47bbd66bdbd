"""Secrets never reach logs, metrics, config dumps or error messages.

The worker runs with every kind of secret set (SASL password, webhook HMAC secret, a
webhook URL carrying a token, a config-file alert target with its own URL and secret) at
DEBUG level, processes traffic, and its whole log and /metrics are searched for them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamguard.config import Settings
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    new_worker,
    produce,
    read_outputs,
)

pytestmark = pytest.mark.integration

SECRETS = {
    "STREAMGUARD_SASL_PASSWORD": "sasl-pw-7f3a9c",
    "STREAMGUARD_WEBHOOK_SECRET": "hmac-key-51d2e8",
    # Nothing listens on port 9 (discard): deliveries fail and get logged, URL and all.
    "STREAMGUARD_WEBHOOK_URL": "http://127.0.0.1:9/hooks/url-token-b4e6a1",
}
MARKERS = ("sasl-pw-7f3a9c", "hmac-key-51d2e8", "url-token-b4e6a1")


def assert_no_secret(text: str, where: str) -> None:
    leaked = [marker for marker in MARKERS if marker in text]
    assert not leaked, f"{where} shows secrets {leaked}"


def test_settings_dumps_and_reprs_mask_every_secret() -> None:
    settings = Settings(
        sasl_password=SECRETS["STREAMGUARD_SASL_PASSWORD"],
        webhook_secret=SECRETS["STREAMGUARD_WEBHOOK_SECRET"],
        webhook_url=SECRETS["STREAMGUARD_WEBHOOK_URL"],
    )
    assert_no_secret(repr(settings), "repr(Settings)")
    assert_no_secret(str(settings.redacted()), "Settings.redacted()")


def test_the_worker_never_logs_or_exports_a_secret(broker: EmbeddedBroker, tmp_path: Path) -> None:
    topics, worker = new_worker(
        broker.bootstrap, tmp_path, STREAMGUARD_LOG_LEVEL="DEBUG", **SECRETS
    )
    try:
        worker.start().wait_ready()
        placed = asyncio.run(produce(broker.bootstrap, topics, generate("both", 300, seed=3)))
        asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
        assert_no_secret(worker.metrics_text(), "/metrics")
    finally:
        assert worker.stop() == 0
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "settings:" in log  # the startup dump is there, masked
    assert_no_secret(log, "the worker log")


def test_a_configuration_error_does_not_echo_secrets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGUARD_")}
    env.update(SECRETS)
    env["STREAMGUARD_METRICS_PORT"] = "not-a-port"
    result = subprocess.run(
        [sys.executable, "-m", "streamguard.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "metrics_port" in result.stderr  # the error names the bad setting...
    assert_no_secret(result.stdout + result.stderr, "the error output")  # ...and no secret
