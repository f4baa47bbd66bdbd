"""Run ``streamguard worker`` as a real process against the embedded broker, and read back
what it wrote. Shared by the worker integration tests and the chaos scripts.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamguard.runtime.ports import free_port as free_port  # re-exported for the tests
from streamguard.sources.fault_kinds import GeneratedRecord
from streamguard.testing.processes import wait_for as wait_until  # re-exported too

REPO = Path(__file__).resolve().parents[2]

# Short timeouts: group joins take session_timeout/2 on the embedded broker.
_CLIENT = {"request_timeout_ms": 5000, "retry_backoff_ms": 50, "metadata_max_age_ms": 5000}


@dataclass
class Topics:
    """Unique topic names for one test run, and the env vars that select them."""

    behavior: str
    product: str
    behavior_clean: str
    product_clean: str
    quarantine: str
    findings: str
    recommendations: str
    incidents: str
    inventory: str

    @classmethod
    def unique(cls) -> Topics:
        """Fresh names, so tests sharing one broker never see each other's records."""
        run = uuid.uuid4().hex[:8]
        return cls(
            behavior=f"events.behavior.{run}",
            product=f"events.product.{run}",
            behavior_clean=f"events.behavior.clean.{run}",
            product_clean=f"events.product.clean.{run}",
            quarantine=f"streamguard.quarantine.{run}",
            findings=f"streamguard.findings.{run}",
            recommendations=f"recommendations.{run}",
            incidents=f"streamguard.incidents.{run}",
            inventory=f"streamguard.inventory.{run}",
        )

    def env(self) -> dict[str, str]:
        """STREAMGUARD_TOPIC_* variables for the worker."""
        return {f"STREAMGUARD_TOPIC_{k.upper()}": v for k, v in self.__dict__.items()}

    def source(self, stream: str) -> str:
        """The input topic of ``stream``."""
        return self.behavior if stream == "behavior" else self.product

    def outputs(self) -> tuple[str, ...]:
        """Every topic the pipeline writes records to."""
        return (self.behavior_clean, self.product_clean, self.quarantine)


@dataclass
class WorkerProcess:
    """One ``streamguard worker`` subprocess; stop it gracefully or kill -9 it."""

    env: dict[str, str]
    log_path: Path
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the worker; returns once the process exists (not once it is ready)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "streamguard.cli", "worker"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def _get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())
        except OSError:
            return 0, b""

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Poll /readyz until 200 (partitions assigned, tables recovered)."""

        def ready() -> bool:
            self.check_alive()
            return self._get("/readyz")[0] == 200

        wait_until(ready, timeout_s, "the worker to become ready")

    def metrics_text(self) -> str:
        """The current /metrics exposition."""
        return self._get("/metrics")[1].decode()

    def metric_sum(self, name: str) -> float:
        """A metric from /metrics, summed over its label sets (0 when absent)."""
        self.check_alive()
        pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$"
        return sum(float(v) for v in re.findall(pattern, self.metrics_text(), re.M))

    def check_alive(self) -> None:
        """Raise with the worker's log tail if it has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        """The last lines the worker printed."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait; kill -9 if it does not stop in time."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def again(self, log_path: Path) -> WorkerProcess:
        """Another process of the same worker (same group, topics, state and port): a
        restart once this one has stopped."""
        return WorkerProcess(self.env, log_path, self.metrics_port)

    def kill9(self) -> None:
        """SIGKILL: the crash the at-least-once design must survive."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


def worker_env(
    bootstrap: str, topics: Topics, data_dir: Path, metrics_port: int, **extra: str
) -> dict[str, str]:
    """The environment of a worker under test: its own group, topics and state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGUARD_")}
    env.update(topics.env())
    env.update(
        {
            "STREAMGUARD_BROKER": f"kafka://{bootstrap}",
            "STREAMGUARD_APP_ID": f"streamguard-test-{uuid.uuid4().hex[:8]}",
            "STREAMGUARD_PARTITIONS": "3",
            "STREAMGUARD_DATA_DIR": str(data_dir),
            "STREAMGUARD_METRICS_PORT": str(metrics_port),
            "STREAMGUARD_SESSION_TIMEOUT_S": "6",
            "STREAMGUARD_TAKE_WITHIN_S": "0.02",
            "STREAMGUARD_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def new_worker(
    bootstrap: str,
    tmp_path: Path,
    *,
    topics: Topics | None = None,
    name: str = "worker",
    **extra: str,
) -> tuple[Topics, WorkerProcess]:
    """A worker under test, not started: fresh topics (unless given), its own group, a
    free metrics port, state in ``tmp_path/state``, log in ``tmp_path/<name>.log``;
    ``extra``: more STREAMGUARD_* settings."""
    topics = topics or Topics.unique()
    port = free_port()
    env = worker_env(bootstrap, topics, tmp_path / "state", port, **extra)
    return topics, WorkerProcess(env, tmp_path / f"{name}.log", port)


async def produce(
    bootstrap: str, topics: Topics, records: Iterable[GeneratedRecord], **client: Any
) -> dict[tuple[str, int, int], GeneratedRecord]:
    """Produce ``records`` and return them by the (topic, partition, offset) they got.
    ``client``: extra aiokafka options (TLS)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_request_size=4 * 1024 * 1024,
        **{**_CLIENT, **client},
    )
    await producer.start()
    try:
        sends = []
        for record in records:
            topic = topics.source(record.stream)
            future = await producer.send(topic, record.value, key=record.key)
            sends.append((record, future))
        placed = {}
        for record, future in sends:
            meta = await future
            placed[meta.topic, meta.partition, meta.offset] = record
        return placed
    finally:
        await producer.stop()


@dataclass
class Outputs:
    """What the worker wrote, indexed by the source position each output names."""

    by_source: dict[tuple[str, int, int], list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, topic: str, value: bytes) -> None:
        """Index one output record by its ``_dq.source`` / ``source``."""
        record = orjson.loads(value)
        source = record["_dq"]["source"] if "_dq" in record else record["source"]
        self.by_source[source["topic"], source["partition"], source["offset"]].append(
            (topic, record)
        )


async def read_outputs(
    bootstrap: str,
    topics: Topics,
    expected: Iterable[tuple[str, int, int]],
    timeout_s: float,
    **client: Any,
) -> Outputs:
    """Read every output topic from the start until all ``expected`` sources appear.
    ``client``: extra aiokafka options (TLS)."""
    wanted = set(expected)
    outputs = Outputs()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=100,
        **{**_CLIENT, **client},
    )
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics.outputs():
            deadline = time.monotonic() + 20
            while not (ids := consumer.partitions_for_topic(topic)):
                await consumer._client.force_metadata_update()  # noqa: SLF001 - no public way
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {topic} never appeared")
                await asyncio.sleep(0.1)
            partitions.extend(TopicPartition(topic, p) for p in ids)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while not wanted <= outputs.by_source.keys():
            if time.monotonic() > deadline:
                missing = sorted(wanted - outputs.by_source.keys())
                raise TimeoutError(f"{len(missing)} source records never came out: {missing[:5]}")
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    assert message.value is not None
                    outputs.add(tp.topic, message.value)
        return outputs
    finally:
        await consumer.stop()


async def committed_by_partition(
    bootstrap: str, group: str, topic: str, partitions: int
) -> dict[int, int]:
    """The committed offset of ``group`` on each partition of ``topic`` (0 where none)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **_CLIENT)
    await admin.start()
    try:
        # The embedded broker needs the partitions listed explicitly (see notes).
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return {tp.partition: max(meta.offset, 0) for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum of the committed offsets of ``group`` on ``topic`` (0 where none)."""
    return sum((await committed_by_partition(bootstrap, group, topic, partitions)).values())


async def group_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has right now."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **_CLIENT)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
        # Each response's groups are tuples: (error, id, state, type, protocol, members, ...)
        return sum(len(group[5]) for response in described for group in response.groups)
    finally:
        await admin.close()


def destination_of(topics: Topics, stream: str, expected: str) -> str:
    """The topic a record with ``expected`` outcome must land in."""
    if expected == "quarantine":
        return topics.quarantine
    return topics.behavior_clean if stream == "behavior" else topics.product_clean


def assert_exactly_one_destination(
    topics: Topics,
    placed: Mapping[tuple[str, int, int], GeneratedRecord],
    outputs: Outputs,
) -> dict[str, int]:
    """Every input came out in exactly one topic, with the outcome its fault implies.

    Repeats of the same source in the *same* topic are allowed (at-least-once) and must be
    identical decisions. Returns counts by outcome.
    """
    counts: dict[str, int] = defaultdict(int)
    for source, record in placed.items():
        seen = outputs.by_source[source]
        destinations = {topic for topic, _ in seen}
        assert len(destinations) == 1, f"{source} landed in {destinations}"
        want = destination_of(topics, record.stream, record.expected)
        assert destinations == {want}, (
            f"{source} fault={record.fault}: expected {want}, got {destinations}: {seen[0][1]}"
        )
        first = seen[0][1]
        if record.expected == "quarantine":
            codes = {reason["code"] for reason in first["reasons"]}
            decisions = {tuple(r["code"] for r in out["reasons"]) for _, out in seen}
        else:
            assert first["_dq"]["status"] == record.expected, (record.fault, first["_dq"])
            codes = {c["rule"] for c in first["_dq"]["corrections"]}
            decisions = {tuple(c["rule"] for c in out["_dq"]["corrections"]) for _, out in seen}
        if record.expected_code is not None:
            assert record.expected_code in codes, (record.fault, first)
        assert len(decisions) == 1, f"{source} decided differently on redelivery: {decisions}"
        counts[record.expected] += 1
    return dict(counts)
