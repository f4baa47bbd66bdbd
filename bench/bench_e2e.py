"""Benchmark *end-to-end*: the real worker on the embedded broker, against a bare
aiokafka copy loop on the same broker, and produce -> clean latency at a fixed rate.

Run: ``.venv/bin/python bench/bench_e2e.py [--events 200000] [--rate 2000]``.

1. *Ceiling*: ``--events`` generated behaviour events (10% faults) are produced ahead;
   a bare aiokafka consumer -> producer loop copies them to a scratch topic, awaiting
   acks before each commit like the worker does. Events/s from first read to last ack.
   It runs again once the worker has drained, and the ceiling is the mean of the two:
   the machine's speed drifts within minutes, and a worker measured between two
   ceilings is compared with the speed of its own time.
2. *Worker*: one ``streamguard worker`` process starts on the same backlog; events/s
   from its first to its last batch (its own ``streamguard_records_in_total``, counted
   once a batch's outputs are acknowledged), and events per CPU-second of the worker
   process. The output topics' end offsets must account for every event.
3. *Latency*: the same worker, warm; ``--latency-seconds`` of fresh events offered at
   ``--rate`` events/s, then again at half the rate the worker sustained. Latency of a
   record = from its produce timestamp to its output being acknowledged, from the
   worker's ``streamguard_record_latency_seconds`` histogram over exactly that phase;
   p50/p99 interpolated inside buckets as Prometheus' ``histogram_quantile`` does (the
   250 ms target is a bucket bound, so "within 250 ms" is exact).

Writes ``bench/results/e2e.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Callable

from aiokafka import ConsumerRecord
from common import Figure, print_table, write_result
from prometheus_client.parser import text_string_to_metric_families
from rig import (
    PARTITIONS,
    Rig,
    Route,
    WorkerProcess,
    add_worker_env_argument,
    copy_loop,
    cpu_by_role,
    cpu_seconds,
    produce,
    records_in,
    rig,
)

from streamguard.events.records import SourcePosition
from streamguard.kafka.admin import create_topics, true_end_offsets
from streamguard.pipeline import RecordPipeline
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex

TARGET_SHARE = 0.60
TARGET_P99_MS = 250.0


def _progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _events(count: int, fault_rate: float, seed: int) -> list[tuple[bytes | None, bytes]]:
    faults = FaultMix.uniform(fault_rate, "behavior")
    return [(r.key, r.value) for r in generate("behavior", count, seed=seed, faults=faults)]


def _pipeline_route(dest: str) -> Route:
    """Each record through a behaviour pipeline per partition (in-memory dedupe); clean
    and quarantined outputs both go to ``dest``, one output per input like the worker."""
    pipelines: dict[int, RecordPipeline] = {}

    def route(message: ConsumerRecord[bytes, bytes]) -> tuple[str, bytes | None, bytes]:
        pipeline = pipelines.get(message.partition)
        if pipeline is None:
            pipeline = pipelines[message.partition] = RecordPipeline(
                "behavior", dedupe=DedupeIndex()
            )
        outcome = pipeline.process(
            message.value, SourcePosition(message.topic, message.partition, message.offset)
        )
        return dest, outcome.key, outcome.value

    return route


async def _drain(
    the_rig: Rig, count: int, timeout_s: float, env: dict[str, str]
) -> tuple[dict[str, float], dict[str, float], WorkerProcess]:
    """Start a worker on the backlog and time it from its first to its last batch; its
    figures, the CPU µs per event by role (see ``cpu_by_role``, plus the broker's), and
    the worker."""
    started = time.monotonic()
    worker = the_rig.start_worker(**env)
    assert worker.process is not None
    pid = worker.process.pid
    first: tuple[float, dict[str, float], float] | None = None
    broker_pid = the_rig.broker.pid
    deadline = started + timeout_s
    while True:
        worker.check_alive()
        seen = records_in(worker)
        now = time.monotonic()
        if seen > 0 and first is None:
            first = (now, cpu_by_role(pid), cpu_seconds(broker_pid))
        if seen >= count:
            break
        if now > deadline:
            raise TimeoutError(f"worker consumed {seen} of {count} in {timeout_s:.0f} s")
        await asyncio.sleep(0.2)
    assert first is not None
    batches = _batch_stats(worker.metrics_text())
    span = max(now - first[0], 1e-3)
    # Where the CPU of the drain went: the worker's event loop (which bounds its rate),
    # its other threads and each helper process (together, the worker's CPU), and the
    # broker.
    spent = {role: seconds - first[1].get(role, 0.0) for role, seconds in cpu_by_role(pid).items()}
    cpu = max(sum(spent.values()), 1e-3)
    cpu_us = {role: round(seconds / count * 1e6, 1) for role, seconds in spent.items()}
    cpu_us["broker"] = round((cpu_seconds(broker_pid) - first[2]) / count * 1e6, 1)
    # The worker process's Python threads share one interpreter lock, so one worker goes
    # no faster than 1 / their µs per event, however many cores there are (an upper
    # bound: native threads, e.g. a BLAS pool, count here too but do not take the lock).
    interpreter_us = cpu_us["main thread"] + cpu_us["other threads"]
    stats = {
        "startup_s": round(first[0] - started, 2),
        "drain_s": round(span, 2),
        "total_s": round(now - started, 2),
        "events_per_s": count / span,
        "events_per_cpu_s": count / cpu,
        "cpu_share": cpu / span,
        **batches,
        # Share of the drain spent inside the pipeline + send + ack wait (_handle).
        "handle_share": batches["batch_seconds_sum"] / span,
        "interpreter_share": interpreter_us * 1e-6 * count / span,
        # The rate its threads' CPU per event allows with the interpreter busy all the time.
        "interpreter_bound_per_s": 1e6 / max(interpreter_us, 1e-3),
    }
    return stats, cpu_us, worker


def _batch_stats(metrics_text: str) -> dict[str, float]:
    """Batch count, mean size and time in batches, from the worker's own histograms."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in (
                "streamguard_batch_records_count",
                "streamguard_batch_records_sum",
                "streamguard_batch_processing_seconds_sum",
            ):
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    batches = sums.get("streamguard_batch_records_count", 0.0)
    return {
        "batches": batches,
        "mean_batch_records": sums.get("streamguard_batch_records_sum", 0.0) / max(batches, 1),
        "batch_seconds_sum": sums.get("streamguard_batch_processing_seconds_sum", 0.0),
    }


def _latency_buckets(metrics_text: str) -> dict[float, float]:
    """Cumulative counts of the worker's produce -> output-acknowledged histogram."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "streamguard_record_latency_seconds_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_quantile(share: float, buckets: dict[float, float]) -> float:
    """Prometheus' ``histogram_quantile``: linear inside the bucket holding the share.

    Returns the largest finite bound when the share lies in the ``+Inf`` bucket.

    >>> histogram_quantile(0.5, {0.1: 0.0, 0.25: 50.0, 0.5: 100.0, float("inf"): 100.0})
    0.25
    >>> histogram_quantile(0.99, {0.1: 0.0, 0.25: 50.0, 0.5: 100.0, float("inf"): 100.0})
    0.495
    """
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return float("nan")
    rank, lower, below = share * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


async def _latency(
    worker: WorkerProcess,
    bootstrap: str,
    topic: str,
    rate: float,
    seconds: float,
    seed: int,
    timeout_s: float,
) -> dict[str, float]:
    """Offer ``rate`` events/s for ``seconds``; the worker's own latency histogram (from
    each input record's produce timestamp to its output being acknowledged) over exactly
    this phase gives the quantiles.
    """
    events = _events(max(1, int(rate * seconds)), 0.1, seed)
    consumed, before = records_in(worker), _latency_buckets(worker.metrics_text())
    placed = await produce(bootstrap, topic, events, rate=rate)
    deadline = time.monotonic() + timeout_s
    while records_in(worker) < consumed + len(placed):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not consume {len(placed)} events in time")
        await asyncio.sleep(0.1)
    after = _latency_buckets(worker.metrics_text())
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = delta[float("inf")]
    top = max(bound for bound in delta if bound != float("inf"))
    offered = len(placed) / max((max(placed.values()) - min(placed.values())) / 1000.0, 1e-3)
    return {
        "events": len(placed),
        "offered_per_s": round(offered, 1),
        "p50_ms": round(1000 * histogram_quantile(0.50, delta), 1),
        "p99_ms": round(1000 * histogram_quantile(0.99, delta), 1),
        "share_within_250ms": round(delta.get(0.25, 0.0) / max(total, 1.0), 4),
        "share_within_1s": round(delta.get(1.0, 0.0) / max(total, 1.0), 4),
        # Beyond the last finite bucket the quantiles above are only lower bounds.
        "top_bucket_s": top,
        "share_beyond_top_bucket": round((total - delta[top]) / max(total, 1.0), 4),
    }


async def _timed_copy(
    the_rig: Rig,
    args: argparse.Namespace,
    prefix: str,
    route_to: Callable[[str], Route] | None = None,
) -> tuple[float, float]:
    """Copy the backlog to a fresh ``prefix.*`` topic (through ``route_to(topic)`` if
    given); the loop's seconds and this process's CPU-seconds meanwhile."""
    dest = f"{prefix}.{uuid.uuid4().hex[:8]}"
    await create_topics(the_rig.bootstrap, {dest: PARTITIONS})
    cpu = time.process_time()
    seconds = await copy_loop(
        the_rig.bootstrap,
        the_rig.topics.behavior,
        dest,
        args.events,
        args.timeout,
        route=None if route_to is None else route_to(dest),
    )
    # The bench process does nothing else meanwhile: its CPU time is the copy loop's.
    return seconds, max(time.process_time() - cpu, 1e-3)


async def _run(args: argparse.Namespace) -> dict[str, object]:
    async with rig() as the_rig:
        events = _events(args.events, args.fault_rate, seed=7)
        started = time.perf_counter()
        await produce(the_rig.bootstrap, the_rig.topics.behavior, events)
        produce_s = time.perf_counter() - started
        _progress(f"produced {args.events:,} events in {produce_s:.1f} s")

        copy_s, copy_cpu = await _timed_copy(the_rig, args, "bench.copy")
        ceiling = args.events / copy_s
        _progress(f"copy loop: {ceiling:,.0f} events/s")

        # The same loop with the pipeline in it (no Faust, no drift engine): what the
        # worker's glue costs on top of the pipeline and the transport.
        piped_s, piped_cpu = await _timed_copy(
            the_rig, args, "bench.pipeline", route_to=_pipeline_route
        )
        _progress(f"pipeline in the copy loop: {args.events / piped_s:,.0f} events/s")

        drained, cpu_us, worker = await _drain(the_rig, args.events, args.timeout, args.worker_env)
        _progress(f"worker: {drained['events_per_s']:,.0f} events/s")
        # The copy loop again, after the worker (idle now): the machine's speed drifts
        # by ±25% within minutes, so the share is taken against the mean of the two.
        copy_after_s, copy_after_cpu = await _timed_copy(the_rig, args, "bench.copy")
        ceiling_after = args.events / copy_after_s
        _progress(f"copy loop again: {ceiling_after:,.0f} events/s; counting outputs")
        # Count what came out from the output topics' end offsets: reading 200k records
        # back from offset 0 is slow on the embedded broker, and drain is over anyway
        # (the worker counts a batch in only after its outputs are acknowledged).
        ends = await true_end_offsets(
            the_rig.bootstrap,
            [(t, p) for t in the_rig.topics.outputs() for p in range(PARTITIONS)],
            timeout_s=120,
        )
        outputs = sum(ends.values())
        if outputs < args.events:
            raise RuntimeError(f"only {outputs} of {args.events} records came out")
        _progress(f"{outputs:,} outputs written; latency at {args.rate:,.0f}/s")
        source = the_rig.topics.behavior
        latency = await _latency(
            worker, the_rig.bootstrap, source, args.rate, args.latency_seconds, 8, args.timeout
        )
        # Where the offered rate saturates the worker, latency only says "queueing"; the
        # latency at half the rate it sustained shows what it adds when it keeps up.
        relaxed_rate = min(args.rate, round(drained["events_per_s"] / 2))
        relaxed = await _latency(
            worker, the_rig.bootstrap, source, relaxed_rate, args.latency_seconds, 9, args.timeout
        )
    mean_ceiling = (ceiling + ceiling_after) / 2
    mean_ceiling_cpu = (args.events / copy_cpu + args.events / copy_after_cpu) / 2
    return {
        "events": args.events,
        "fault_rate": args.fault_rate,
        "partitions": PARTITIONS,
        "worker_env": args.worker_env,
        "produce_per_s": round(args.events / produce_s),
        # The ceiling: the mean of the copy loops before and after the worker.
        "copy_loop_per_s": round(mean_ceiling),
        "copy_loop_per_cpu_s": round(mean_ceiling_cpu),
        "copy_loop_before_per_s": round(ceiling),
        "copy_loop_after_per_s": round(ceiling_after),
        "pipeline_loop_per_s": round(args.events / piped_s),
        "pipeline_loop_per_cpu_s": round(args.events / piped_cpu),
        "pipeline_loop_share_of_ceiling": round(args.events / piped_s / mean_ceiling, 4),
        "worker": {k: round(v, 3) for k, v in drained.items()},
        "worker_cpu_us_per_event": cpu_us,
        "worker_share_of_ceiling": round(drained["events_per_s"] / mean_ceiling, 4),
        "interpreter_bound_share_of_ceiling": round(
            drained["interpreter_bound_per_s"] / mean_ceiling, 4
        ),
        "worker_cpu_share_of_ceiling": round(drained["events_per_cpu_s"] / mean_ceiling_cpu, 4),
        "outputs_written": outputs,
        "latency": latency,
        "latency_at_half_sustained_rate": relaxed,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered events/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, seconds")
    add_worker_env_argument(parser)
    args = parser.parse_args(argv)
    args.worker_env = dict(args.worker_env)
    if args.events < 1 or args.rate <= 0 or args.latency_seconds <= 0:
        parser.error("--events, --rate and --latency-seconds must be positive")

    result = asyncio.run(_run(args))
    worker = result["worker"]
    latency = result["latency"]
    assert isinstance(worker, dict) and isinstance(latency, dict)
    ceiling = float(str(result["copy_loop_per_s"]))
    print_table(
        [
            (
                "aiokafka copy loop (ceiling: mean of before/after "
                f"{result['copy_loop_before_per_s']:,} / {result['copy_loop_after_per_s']:,})",
                ceiling,
                result["copy_loop_per_cpu_s"],
                1.0,
                1.0,
            ),
            (
                "pipeline in the copy loop (no Faust)",
                result["pipeline_loop_per_s"],
                result["pipeline_loop_per_cpu_s"],
                result["pipeline_loop_share_of_ceiling"],
                round(
                    float(str(result["pipeline_loop_per_cpu_s"]))
                    / float(str(result["copy_loop_per_cpu_s"])),
                    4,
                ),
            ),
            (
                "streamguard worker",
                worker["events_per_s"],
                worker["events_per_cpu_s"],
                result["worker_share_of_ceiling"],
                result["worker_cpu_share_of_ceiling"],
            ),
        ],
        ("end to end", "events/s", "events/cpu-s", "share", "cpu share"),
    )
    cpu_us = result["worker_cpu_us_per_event"]
    assert isinstance(cpu_us, dict)
    print(
        "CPU per event while draining: "
        + ", ".join(f"{role} {us:.1f} µs" for role, us in cpu_us.items())
        + f"; copy loop {1e6 / float(str(result['copy_loop_per_cpu_s'])):.1f} µs (its own process)."
        f" The worker's threads ran {worker['interpreter_share']:.0%} of the drain; with its"
        f" interpreter busy all the time (one lock) it would reach"
        f" {worker['interpreter_bound_per_s']:,.0f} events/s,"
        f" {result['interpreter_bound_share_of_ceiling']} of the copy loop"
    )
    relaxed = result["latency_at_half_sustained_rate"]
    assert isinstance(relaxed, dict)
    for point in (latency, relaxed):
        print(
            f"latency at {point['offered_per_s']:,.0f} ev/s offered: p50 {point['p50_ms']} ms,"
            f" p99 {point['p99_ms']} ms ({point['share_within_250ms']:.1%} within 250 ms)"
        )
    share = float(str(result["worker_share_of_ceiling"]))
    headline = [
        Figure(
            "e2e",
            "worker events/s (one process)",
            float(worker["events_per_s"]),
            "events/s",
            baseline=ceiling,
            target=f">= {TARGET_SHARE:.0%} of the aiokafka copy loop",
            met=share >= TARGET_SHARE,
        ),
        Figure(
            "e2e",
            f"p99 produce->clean at {args.rate:,.0f}/s",
            float(latency["p99_ms"]),
            "ms",
            target=f"<= {TARGET_P99_MS:.0f} ms",
            met=float(latency["p99_ms"]) <= TARGET_P99_MS,
        ),
    ]
    path = write_result("e2e", headline, result, argv)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
