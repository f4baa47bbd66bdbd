"""EmbeddedBroker without a real broker: validation, properties, failure paths."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamguard.devtools import broker as broker_module
from streamguard.devtools.broker import BrokerError, EmbeddedBroker
from streamguard.runtime.ports import free_port

# --- construction and properties -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"host": "::1"}, "IPv4"),
        ({"host": "localhost"}, "IPv4"),
        ({"host": "0.0.0.0"}, "0.0.0.0"),  # noqa: S104 - the value being rejected
        ({"port": 70000}, "0..65535"),
        ({"port": -1}, "0..65535"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        EmbeddedBroker(**kwargs)


def test_tls_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="TLS"):
        EmbeddedBroker(cert=tmp_path / "cert.pem", key=tmp_path / "key.pem")


def test_properties_before_start() -> None:
    broker = EmbeddedBroker()
    for name in ("port", "bootstrap", "url", "pid"):
        with pytest.raises(BrokerError, match="not been started"):
            getattr(broker, name)
    assert not broker.running and broker.log_path is None and broker.log_tail() == ""
    assert repr(broker) == "<EmbeddedBroker stopped>"
    assert broker.cluster_id.startswith("streamguard-")
    assert broker.cluster_id != EmbeddedBroker().cluster_id
    broker.stop()  # stopping a broker that never started is fine


# --- start-up failures, with fake binaries -----------------------------------------------


def fake_binary(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-tansu"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_broker_that_exits_reports_its_output(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, 'echo "\x1b[31mERROR\x1b[0m boom: bad storage" >&2\nexit 3')
    broker = EmbeddedBroker(binary=binary)
    with pytest.raises(BrokerError, match=r"exited with code 3") as caught:
        broker.start()
    assert "ERROR boom: bad storage" in str(caught.value)  # colour codes stripped
    assert not broker.running and broker.log_path is None


def test_a_taken_port_is_retried_then_reported(tmp_path: Path) -> None:
    # Tansu panics on a taken port but exits 0; only its output says why.
    attempts = tmp_path / "attempts"
    binary = fake_binary(tmp_path, f'echo x >> {attempts}\necho "err=AddrInUse"\nexit 0')
    with pytest.raises(BrokerError, match="no free port after 5 attempts"):
        EmbeddedBroker(binary=binary).start()
    assert len(attempts.read_text().split()) == 5
    with pytest.raises(BrokerError, match="exited with code 0 .*: address in use"):
        EmbeddedBroker(binary=binary, port=free_port()).start()
    assert len(attempts.read_text().split()) == 6, "a fixed port is not retried"


def test_another_broker_on_our_port_is_not_mistaken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def other_cluster(host: str, port: int, timeout: float) -> tuple[str, list[tuple[str, int]]]:
        return "someone-else", [(host, port)]

    monkeypatch.setattr(broker_module, "probe_metadata", other_cluster)
    binary = fake_binary(tmp_path, "exec sleep 60")
    with pytest.raises(BrokerError, match="another broker"):
        EmbeddedBroker(binary=binary, port=free_port()).start()


def test_a_broker_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    binary = fake_binary(tmp_path, f'echo $$ > {pid_file}\necho "starting..."\nexec sleep 60')
    broker = EmbeddedBroker(binary=binary, startup_timeout=0.5)
    with pytest.raises(BrokerError, match=r"did not answer .* within 0.5 s") as caught:
        broker.start()
    assert "starting..." in str(caught.value)
    assert not pid_exists(int(pid_file.read_text()))
    assert not broker.running


def test_an_unrunnable_binary_fails_clearly(tmp_path: Path) -> None:
    binary = tmp_path / "missing-tansu"
    with pytest.raises(BrokerError, match="cannot run the Tansu binary"):
        EmbeddedBroker(binary=binary).start()


def test_terminate_escalates_to_sigkill(caplog: pytest.LogCaptureFixture) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    try:
        with caplog.at_level(logging.WARNING, logger="streamguard.devtools.broker"):
            returncode = EmbeddedBroker(stop_timeout=0.2)._terminate(stubborn)
        assert returncode == -signal.SIGKILL
        assert "ignored SIGTERM" in caplog.text
    finally:
        assert stubborn.stdin is not None
        stubborn.stdin.close()
        stubborn.stdout.close()
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait()


def test_an_appended_log_file_keeps_older_runs_out_of_errors(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "broker.log"
    log.parent.mkdir()
    log.write_text("old run: err=AddrInUse\n")
    binary = fake_binary(tmp_path, 'echo "boom"\nexit 2')
    with pytest.raises(BrokerError) as caught:
        EmbeddedBroker(binary=binary, log_file=log).start()
    assert "boom" in str(caught.value) and "old run" not in str(caught.value)
    assert log.read_text() == "old run: err=AddrInUse\nboom\n", "a given log_file is kept"
