"""The end-to-end rig shared by ``bench_e2e.py`` and ``bench_memory.py``: an embedded
broker, unique topics, a real ``streamguard worker`` process, and Kafka clients that
produce input and read back what came out.

Workers are started exactly as the integration tests start them
(``streamguard/testing/worker_harness.py``), so what is measured is what users run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.observability.scrape import MetricsSnapshot
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    free_port,
    worker_env,
)

REPO = Path(__file__).resolve().parents[1]

__all__ = [
    "PARTITIONS",
    "WorkerProcess",
    "Rig",
    "add_worker_env_argument",
    "copy_loop",
    "cpu_seconds",
    "maps_library",
    "produce",
    "records_in",
    "rig",
    "rss_bytes",
]

#: Input partitions: the worker reads them all, as does the copy loop.
PARTITIONS = 3
_CLIENT: dict[str, Any] = {
    "request_timeout_ms": 10_000,
    "retry_backoff_ms": 50,
    "metadata_max_age_ms": 5000,
}


@dataclass
class Rig:
    """A running broker and one set of topics, plus where worker logs and state go."""

    broker: EmbeddedBroker
    topics: Topics
    workdir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        """``host:port`` of the broker."""
        return self.broker.bootstrap

    def start_worker(self, **extra: str) -> WorkerProcess:
        """Start a ``streamguard worker`` on this rig's topics (not yet ready)."""
        port = free_port()
        env = worker_env(
            self.bootstrap,
            self.topics,
            self.workdir / f"worker-{len(self.workers)}",
            port,
            STREAMGUARD_PARTITIONS=str(PARTITIONS),
            STREAMGUARD_LOG_LEVEL="WARNING",
            **extra,
        )
        env.pop("STREAMGUARD_TAKE_WITHIN_S", None)  # measure the shipped default
        log = self.workdir / f"worker-{len(self.workers)}.log"
        worker = WorkerProcess(env, log, port).start()
        self.workers.append(worker)
        return worker


@asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    """A broker with fresh topics; stops every worker started on it, then the broker."""
    workdir = Path(tempfile.mkdtemp(prefix="streamguard-bench-"))
    broker = EmbeddedBroker()
    broker.start()
    try:
        topics = Topics.unique()
        # Every topic the worker reads or writes (it would create them, but the backlog
        # is produced before it starts).
        layout = dict.fromkeys(topics.__dict__.values(), PARTITIONS)
        await create_topics(broker.bootstrap, layout, **_CLIENT)
        the_rig = Rig(broker, topics, workdir)
        try:
            yield the_rig
        finally:
            for worker in the_rig.workers:
                worker.stop()
    finally:
        broker.stop()


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        **_CLIENT,
    )


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    *,
    rate: float | None = None,
    track: bool = True,
) -> dict[tuple[int, int], int]:
    """Produce ``(key, value)`` pairs; returns (partition, offset) -> produce time (ms).

    With ``rate``, sends are paced to that many per second (a token bucket that does not
    drift); without, as fast as the producer takes them. ``track=False`` returns an
    empty mapping (for millions of records nobody needs positions for).
    """
    from streamguard.sources.ratelimit import TokenBucket

    bucket = TokenBucket(rate, burst=max(1.0, rate / 100)) if rate else None
    producer = _producer(bootstrap)
    await producer.start()
    placed: dict[tuple[int, int], int] = {}
    pending: list[asyncio.Future[Any]] = []

    async def settle() -> None:
        for future in pending:
            meta = await future
            if track:
                placed[meta.partition, meta.offset] = int(meta.timestamp)
        pending.clear()

    try:
        for key, value in records:
            if bucket is not None:
                await bucket.acquire()
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 10_000:
                await settle()
        await settle()
    finally:
        await producer.stop()
    return placed


Route = Callable[[ConsumerRecord], tuple[str, bytes | None, bytes]]


async def copy_loop(
    bootstrap: str,
    source: str,
    dest: str,
    count: int,
    timeout_s: float,
    route: Route | None = None,
) -> float:
    """The transport ceiling: consume ``source``, produce every value to ``dest``, await
    the acks before committing (the worker's delivery pattern) until ``count`` records
    were copied. Returns the seconds from the first record read to the last ack.

    ``route`` maps each record to ``(topic, key, value)`` to send instead of the copy:
    the same loop with per-record work in it (e.g. the pipeline without Faust).
    """
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-copy-{os.getpid()}-{time.monotonic_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=50,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        **_CLIENT,
    )
    producer = _producer(bootstrap)
    await consumer.start()
    await producer.start()
    copied, first = 0, None
    deadline = time.monotonic() + timeout_s
    try:
        while copied < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"copied {copied} of {count} in {timeout_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            if not batches:
                continue
            if first is None:
                first = time.perf_counter()
            if route is None:
                acks = [
                    await producer.send(dest, message.value, key=message.key)
                    for messages in batches.values()
                    for message in messages
                ]
            else:
                acks = []
                for messages in batches.values():
                    for message in messages:
                        topic, key, value = route(message)
                        acks.append(await producer.send(topic, value, key=key))
            await asyncio.gather(*acks)
            await consumer.commit()
            copied += len(acks)
        assert first is not None
        return time.perf_counter() - first
    finally:
        await producer.stop()
        await consumer.stop()


def records_in(worker: WorkerProcess) -> int:
    """Records the worker has consumed so far, from its own /metrics."""
    return int(MetricsSnapshot(worker.metrics_text()).total_in)


def descendants(pid: int) -> list[int]:
    """Process ``pid`` and every process below it (the worker's model and recommender children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def _cpu_of(stat_path: Path) -> float:
    """User + system CPU seconds from a ``/proc/.../stat`` file (a process or a thread)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its children (all threads)."""
    total = 0.0
    for member in descendants(pid):
        with contextlib.suppress(OSError):  # a child that just exited
            total += _cpu_of(Path(f"/proc/{member}/stat"))
    return total


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds of process ``pid``'s tree by role: its main thread (the event loop),
    its other threads together, and each child by the module it runs (``start_child``
    names it on the command line, e.g. ``streamguard.recommender.process``). The roles
    add up to :func:`cpu_seconds`.

    >>> roles = cpu_by_role(os.getpid())
    >>> sorted(roles) == ["main thread", "other threads"] and roles["main thread"] > 0
    True
    >>> abs(sum(roles.values()) - cpu_seconds(os.getpid())) < 0.05  # a few ticks apart
    True
    """
    roles: dict[str, float] = {}
    for member in descendants(pid):
        with contextlib.suppress(OSError):  # a child or thread that just exited
            if member == pid:
                # The process's own total counts threads that have exited too.
                main = _cpu_of(Path(f"/proc/{pid}/task/{pid}/stat"))
                roles["main thread"] = main
                roles["other threads"] = _cpu_of(Path(f"/proc/{pid}/stat")) - main
                continue
            argv = Path(f"/proc/{member}/cmdline").read_bytes().split(b"\0")
            modules = [a.decode() for a in argv if a.startswith(b"streamguard.")]
            role = modules[0] if modules else f"child {member}"
            roles[role] = roles.get(role, 0.0) + _cpu_of(Path(f"/proc/{member}/stat"))
    return roles


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` plus its children's (model, recommender)."""
    total = 0
    for member in descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    if total == 0:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return total


def maps_library(pid: int, name: str) -> bool:
    """Whether process ``pid`` or a child of it has a shared library whose path contains
    ``name`` mapped (the model may run in the worker's embedding child)."""
    for member in descendants(pid):
        with contextlib.suppress(OSError), Path(f"/proc/{member}/maps").open() as maps:
            if any(name in line for line in maps):
                return True
    return False


def _env_pair(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not name or not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_worker_env_argument(parser: argparse.ArgumentParser) -> None:
    """``--worker-env NAME=VALUE`` (repeatable): extra environment for the worker, for
    tuning experiments (``PRODUCER_MAX_BATCH_SIZE=1048576``) or lower bounds
    (``STREAMGUARD_DEDUPE_MAX_ENTRIES=10000``). Parsed as a list of (name, value).
    """
    parser.add_argument(
        "--worker-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the worker (repeatable)",
    )
