"""The embedded Kafka-compatible broker: Tansu as a child process, for tests and demos.

:class:`EmbeddedBroker` runs ``tansu broker`` (memory storage, one loopback listener) as a
child process and only returns from :meth:`~EmbeddedBroker.start` once the broker answers
a Kafka Metadata request (:func:`~streamguard.devtools.wire_probe.probe_metadata`)
carrying its own, per-instance cluster id, so a port that some other process grabbed in
the meantime is never mistaken for ours. The broker dies with this process, even on
``kill -9`` (:mod:`streamguard.devtools.lifeline`).

Finding the binary is :mod:`streamguard.devtools.tansu`; ``streamguard broker`` is
:mod:`streamguard.commands.broker`; topic creation and true end offsets (which work
against Apache Kafka too) live in :mod:`streamguard.kafka.admin`.

Known broker limits (see the project notes): no TLS listener in this build, no
idempotent producer or transactions from aiokafka, no retention or compaction in memory
storage, and ListOffsets(latest) reports the first offset of the last stored batch + 1
instead of the true end: use :func:`streamguard.kafka.admin.true_end_offsets`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from streamguard.devtools import lifeline, tansu
from streamguard.devtools.errors import BrokerError
from streamguard.devtools.tansu import find_tansu_binary
from streamguard.devtools.wire_probe import probe_metadata
from streamguard.runtime.ports import free_port

__all__ = ["BrokerError", "EmbeddedBroker", "find_tansu_binary"]

logger = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
#: Auto-picked ports are free when picked but can be taken before Tansu binds them.
_PORT_ATTEMPTS = 5


class _PortTakenError(BrokerError):
    """Our listener port turned out to belong to someone else (retry with another)."""


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
        return tansu.log_tail(self._log_path, lines, start=self._log_start)

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
                port = self._requested_port or free_port(self._host)
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
        command = tansu.broker_command(
            binary, cluster_id=self._cluster_id, listener_url=url, advertised_url=advertised
        )
        log_path, log_is_temp = self._open_log_path()
        self._log_start = log_path.stat().st_size  # an appended log_file has older runs
        started = time.monotonic()
        try:
            with log_path.open("ab") as log:
                # Own session: a terminal's Ctrl-C reaches us, and we stop it in order
                # (SIGTERM, wait). Dies with this process however it ends (lifeline).
                process = lifeline.spawn(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=tansu.broker_environment(),
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
                cluster_id, brokers = probe_metadata(self._host, port, min(remaining, 1.0))
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
        if any(marker in tail for marker in tansu.PORT_IN_USE_MARKERS):
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


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tansu binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _remove_temp(path: Path | None, is_temp: bool) -> None:
    if path is not None and is_temp:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
