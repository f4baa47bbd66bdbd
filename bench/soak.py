"""Soak: the worker at a steady offered rate with a fault mix, for a long time.

Samples the worker's /metrics and /proc every ``--sample-s`` seconds and checks what an
always-on service must show: throughput keeps up with the offered rate, RSS is flat
in the second half, tables stay bounded, lag stays bounded. Prints a table of samples
and a verdict; writes ``bench/results/soak.json``. Exit status 1 when a check fails.

Run (not in CI; at least 30 minutes for the record in BENCHMARKS.md)::

    .venv/bin/python bench/soak.py --duration 1800 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from common import Figure, print_table, write_result
from rig import cpu_seconds, rig, rss_bytes

from streamguard.observability.scrape import MetricsSnapshot
from streamguard.sources.fault_kinds import FaultMix, GeneratedRecord
from streamguard.sources.output import produce
from streamguard.sources.synthetic import generate

#: RSS may grow this much over the second half (allocator noise, not a leak).
RSS_GROWTH_LIMIT = 0.10
#: Lag must stay below this many seconds of input.
LAG_LIMIT_S = 10.0


@dataclass
class Sample:
    """One observation of the running worker."""

    t_s: float
    produced: int
    records_in: int
    in_per_s: float
    lag_records: float
    rss_mib: float
    cpu_cores: float
    catalogue_products: float


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def soak(
    duration_s: float,
    rate: float,
    fault_rate: float,
    sample_s: float,
    worker_env: dict[str, str] | None = None,
) -> list[Sample]:
    """Run the soak and return its samples (``worker_env``: extra worker settings)."""
    samples: list[Sample] = []

    async def main() -> None:
        async with rig() as the_rig:
            worker = the_rig.start_worker(**(worker_env or {}))
            await asyncio.to_thread(worker.wait_ready)
            assert worker.process is not None
            pid = worker.process.pid
            stop = threading.Event()
            produced = 0

            def records() -> Iterator[GeneratedRecord]:
                nonlocal produced
                faults = FaultMix.uniform(fault_rate, "both")
                for record in generate("both", None, seed=7, faults=faults):
                    if stop.is_set():
                        return
                    produced += 1
                    yield record

            topics = {"behavior": the_rig.topics.behavior, "product": the_rig.topics.product}
            producer = threading.Thread(
                target=lambda: asyncio.run(
                    produce(
                        records(), the_rig.bootstrap, topics, rate=rate, progress_interval_s=1e9
                    )
                ),
                daemon=True,
            )
            started = time.monotonic()
            producer.start()
            last_in, last_cpu, last_t = 0, cpu_seconds(pid), started
            while (now := time.monotonic()) - started < duration_s:
                await asyncio.sleep(sample_s)  # the sampling period, not a synchronisation
                worker.check_alive()
                now = time.monotonic()
                text = worker.metrics_text()
                total_in = int(MetricsSnapshot(text).total_in)
                cpu = cpu_seconds(pid)
                samples.append(
                    Sample(
                        t_s=round(now - started, 1),
                        produced=produced,
                        records_in=total_in,
                        in_per_s=(total_in - last_in) / (now - last_t),
                        lag_records=float(produced - total_in),
                        rss_mib=rss_bytes(pid) / 2**20,
                        cpu_cores=(cpu - last_cpu) / (now - last_t),
                        catalogue_products=_gauge(text, "streamguard_catalogue_products"),
                    )
                )
                print_table([list(asdict(samples[-1]).values())], list(asdict(samples[-1])))
                last_in, last_cpu, last_t = total_in, cpu, now
            stop.set()
            producer.join(30)

    asyncio.run(main())
    return samples


def verdict(samples: list[Sample], rate: float) -> dict[str, tuple[float, bool]]:
    """Each check's figure and whether it passed."""
    second_half = samples[len(samples) // 2 :]
    rss_start, rss_end = second_half[0].rss_mib, second_half[-1].rss_mib
    growth = (rss_end - rss_start) / rss_start
    steady = samples[1:]  # the first sample includes start-up
    mean_rate = sum(s.in_per_s for s in steady) / len(steady)
    max_lag_s = max(s.lag_records for s in samples) / rate
    return {
        "throughput_vs_offered": (mean_rate / rate, mean_rate >= 0.95 * rate),
        "rss_growth_second_half": (growth, growth <= RSS_GROWTH_LIMIT),
        "max_lag_s": (max_lag_s, max_lag_s <= LAG_LIMIT_S),
        "peak_rss_mib": (max(s.rss_mib for s in samples), True),
    }


def main() -> int:
    """Run, print, record; 1 if a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s")
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the worker, e.g. STREAMGUARD_DEDUPE_MAX_ENTRIES=50000",
    )
    args = parser.parse_args()
    worker_env = dict(item.split("=", 1) for item in args.worker_env)
    samples = soak(args.duration, args.rate, args.fault_rate, args.sample_s, worker_env)
    if len(samples) < 4:
        print("too few samples for a verdict: run longer", file=sys.stderr)
        return 1
    checks = verdict(samples, args.rate)
    print()
    print_table(
        [(name, value, "ok" if ok else "FAIL") for name, (value, ok) in checks.items()],
        ("check", "value", "result"),
    )
    write_result(
        "soak",
        [
            Figure("soak", "throughput vs offered", checks["throughput_vs_offered"][0], "ratio"),
            Figure("soak", "RSS growth, 2nd half", checks["rss_growth_second_half"][0], "ratio"),
            Figure("soak", "max lag", checks["max_lag_s"][0], "s"),
        ],
        {
            "rate": args.rate,
            "worker_env": worker_env,
            "duration_s": args.duration,
            "checks": {k: {"value": v, "ok": ok} for k, (v, ok) in checks.items()},
            "samples": [asdict(s) for s in samples],
        },
    )
    return 0 if all(ok for _, ok in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
