"""Broker outage: the worker neither crashes nor spins while the broker is down, reports
not ready, and goes on by itself when the broker is back.

The embedded broker keeps everything in memory, so "back" is a new broker on the same
port with the topics recreated (README: Guarantees). On Apache Kafka the log survives
and uncommitted records are processed again after the reconnect (at-least-once).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    WorkerProcess,
    assert_exactly_one_destination,
    free_port,
    new_worker,
    produce,
    read_outputs,
    wait_until,
)

pytestmark = pytest.mark.integration

#: A worker waiting for its broker should be close to idle (measured: ~0.06 cores).
MAX_IDLE_CORES = 0.5


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def readiness(worker: WorkerProcess) -> tuple[int, dict[str, str]]:
    """/readyz status and its conditions (``name -> ok|waiting``)."""
    status, body = worker._get("/readyz")  # noqa: SLF001 - the harness's raw HTTP helper
    return status, dict(line.split(" ", 1) for line in body.decode().splitlines())


def test_worker_survives_a_broker_outage_and_resumes(tmp_path: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    topics, worker = new_worker(broker.bootstrap, tmp_path)
    try:
        worker.start().wait_ready()
        before = asyncio.run(produce(broker.bootstrap, topics, generate("behavior", 200, seed=1)))
        asyncio.run(read_outputs(broker.bootstrap, topics, before, timeout_s=60))

        broker.stop()
        wait_until(
            lambda: readiness(worker)[0] == 503 and readiness(worker)[1]["broker"] == "waiting",
            20,
            "/readyz to report the broker down",
        )
        assert worker.process is not None
        pid = worker.process.pid
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        # A measurement window, not a synchronisation: how busy is it while it waits?
        time.sleep(5)
        cores = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
        worker.check_alive()
        assert cores < MAX_IDLE_CORES, f"worker used {cores:.2f} cores with no broker"

        broker = EmbeddedBroker(port=port).start()
        # The restarted embedded broker lost every topic (memory storage): recreate what
        # the worker reads and commits, as an operator would (the worker creates its
        # topics only at start). The findings topic is consumed too (incident
        # correlation), and commits to a topic that no longer exists fail for ever.
        consumed = (topics.behavior, topics.product, topics.findings, topics.incidents)
        asyncio.run(create_topics(broker.bootstrap, {t: 3 for t in (*consumed, *topics.outputs())}))
        wait_until(lambda: readiness(worker)[0] == 200, 60, "/readyz to recover")
        after = asyncio.run(produce(broker.bootstrap, topics, generate("behavior", 100, seed=2)))
        outputs = asyncio.run(read_outputs(broker.bootstrap, topics, after, timeout_s=90))
        counts = assert_exactly_one_destination(topics, after, outputs)
        assert sum(counts.values()) == 100
        worker.check_alive()
    finally:
        assert worker.stop() == 0
        broker.stop()
