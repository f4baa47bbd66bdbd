"""``streamguard broker``: options, the port from settings, and failures (fake broker)."""

from __future__ import annotations

import argparse
import signal

import pytest

from streamguard.commands import broker as command
from streamguard.commands.broker import add_arguments, run
from streamguard.config import Settings
from streamguard.devtools.broker import BrokerError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_arguments() -> None:
    assert vars(parse([])) == {"port": None, "host": "127.0.0.1"}
    assert parse(["--port", "9092"]).port == 9092
    for bad in ("x", "70000"):
        with pytest.raises(SystemExit):
            parse(["--port", bad])


@pytest.mark.parametrize(
    ("broker", "port"),
    [
        ("embedded", None),
        ("kafka://127.0.0.1:9999", 9999),
        ("kafka://localhost:9093", 9093),
        ("kafka://kafka-1:9092", None),
        ("kafka://127.0.0.1:9092,127.0.0.1:9093", None),
    ],
)
def test_port_from_settings(broker: str, port: int | None) -> None:
    assert command._port_from_settings(Settings(broker=broker)) == port


class FakeBroker:
    """Stands in for EmbeddedBroker in ``run``: fails to start, or dies after a while."""

    instances: list[FakeBroker] = []
    fail_start = False

    def __init__(self, port: int | None, host: str) -> None:
        self.port, self.host, self.stopped, self.polls = port, host, False, 0
        FakeBroker.instances.append(self)

    def start(self) -> FakeBroker:
        if self.fail_start:
            raise BrokerError("port 1 on 127.0.0.1 is already in use")
        return self

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        self.polls += 1
        return self.polls < 2

    def log_tail(self) -> str:
        return "panicked"

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_broker(monkeypatch: pytest.MonkeyPatch) -> type[FakeBroker]:
    FakeBroker.instances = []
    FakeBroker.fail_start = False
    monkeypatch.setattr(command, "EmbeddedBroker", FakeBroker)
    return FakeBroker


def test_run_reports_a_start_failure(
    fake_broker: type[FakeBroker], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_broker.fail_start = True
    assert run(parse(["--port", "1"]), Settings()) == 1
    out, err = capsys.readouterr()
    assert out == "" and "already in use" in err


def test_run_returns_1_when_the_broker_dies(
    fake_broker: type[FakeBroker],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(command, "_HEALTH_CHECK_INTERVAL_S", 0.01)
    before = signal.getsignal(signal.SIGTERM)
    assert run(parse([]), Settings(broker="kafka://127.0.0.1:9999")) == 1
    assert capsys.readouterr().out == "kafka://127.0.0.1:9999\n"
    (instance,) = fake_broker.instances
    assert instance.stopped and "exited on its own" in caplog.text
    assert signal.getsignal(signal.SIGTERM) is before, "signal handlers are restored"
