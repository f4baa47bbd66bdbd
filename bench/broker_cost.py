"""The embedded broker's CPU for the same traffic as its log grows.

Run: ``.venv/bin/python bench/broker_cost.py [--steps 0 100000 200000 400000]``.

Starts an embedded broker (Tansu, memory storage) with one 8-partition topic. At each
step the topic is first filled to ``--steps[i]`` records (200-byte values, produced as
fast as the broker takes them), then for ``--seconds`` a fixed workload runs: a producer
at ``--rate`` records/s and a consumer tailing the topic (``fetch_max_wait_ms=100``, the
worker's setting). The broker's CPU-seconds over that window (from ``/proc``) per
second of wall time is the figure: the traffic is the same at every step, only the
stored log differs. On Apache Kafka the cost of appending and of fetching at the end
does not depend on the log's length (segments and an offset index); measured here, the
embedded broker's does, which is what slows ``bench_e2e.py``'s later latency phases
(the broker shares the machine's two cores with the worker). Not part of
``make bench``: it describes the test broker, not StreamGuard. Writes
``bench/results/broker_cost.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer
from common import Figure, print_table, write_result
from rig import PARTITIONS, cpu_seconds, produce

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics

_VALUE = b"x" * 200


async def _tail(bootstrap: str, topic: str, seen: list[int], ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        await consumer.seek_to_end()
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            seen[0] += sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()


async def _window(
    bootstrap: str, topic: str, pid: int, rate: float, seconds: float
) -> dict[str, float]:
    """Broker CPU while ``rate`` records/s are produced to ``topic`` and tailed."""
    seen, ready = [0], asyncio.Event()
    tail = asyncio.create_task(_tail(bootstrap, topic, seen, ready))
    await asyncio.wait_for(ready.wait(), 60)
    count = int(rate * seconds)
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    await produce(bootstrap, topic, ((None, _VALUE) for _ in range(count)), rate=rate, track=False)
    deadline = time.monotonic() + 30
    while seen[0] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the tail catches up with what was just produced
    wall = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    tail.cancel()
    await asyncio.gather(tail, return_exceptions=True)
    return {"seconds": round(wall, 2), "broker_cpu_share": round(cpu / wall, 4), "tailed": seen[0]}


async def _run(args: argparse.Namespace) -> list[dict[str, float]]:
    broker = EmbeddedBroker()
    broker.start()
    rows: list[dict[str, float]] = []
    try:
        topic = "bench.broker-cost"
        await create_topics(broker.bootstrap, {topic: PARTITIONS})
        stored = 0
        for step in args.steps:
            if step > stored:
                fill = ((None, _VALUE) for _ in range(step - stored))
                await produce(broker.bootstrap, topic, fill, track=False)
            window = await _window(broker.bootstrap, topic, broker.pid, args.rate, args.seconds)
            stored = step + int(args.rate * args.seconds)
            rows.append({"stored_before": step, **window})
            print(
                f"log of {step:,} records: broker CPU {window['broker_cpu_share']:.0%} of a core",
                flush=True,
            )
    finally:
        broker.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the steps, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 100_000, 200_000, 400_000])
    parser.add_argument("--rate", type=float, default=2000.0, help="records/s produced")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or any(s < 0 for s in args.steps):
        parser.error("--rate and --seconds must be positive, --steps non-negative")
    if args.steps != sorted(args.steps):
        parser.error("--steps must be increasing (the log only grows)")
    rows = asyncio.run(_run(args))
    print_table(
        [(r["stored_before"], r["seconds"], r["broker_cpu_share"], r["tailed"]) for r in rows],
        ("records stored", "window s", "broker CPU (cores)", "records tailed"),
    )
    first, last = rows[0]["broker_cpu_share"], rows[-1]["broker_cpu_share"]
    headline = [
        Figure(
            "broker_cost",
            f"broker CPU at {args.rate:,.0f}/s with {rows[-1]['stored_before']:,.0f} "
            "records stored",
            last,
            "cores",
            baseline=first,
        )
    ]
    path = write_result("broker_cost", headline, {"rate": args.rate, "rows": rows}, argv)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
