"""Benchmark *memory*: resident memory of one worker (its process plus its child processes:
the embedding model's and the recommender's) as events stream through.

Run: ``.venv/bin/python bench/bench_memory.py [--events 1000000] [--interval 1.0]``.

Starts a ``streamguard worker`` on the embedded broker, produces ``--events`` generated
behaviour events (10% faults) while sampling the worker's RSS and its own
``streamguard_records_in_total`` every ``--interval`` seconds, and stops once all were
consumed. Flat means: RSS at the end within 10% of RSS at the half-way point. State the
worker keeps per event (the dedupe index: up to ``STREAMGUARD_DEDUPE_MAX_ENTRIES`` per
input partition) grows until its bound; ``--worker-env`` lowers bounds to show them at
work in a short run. Writes ``bench/results/memory.json`` with every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator

from common import Figure, print_table, write_result
from rig import add_worker_env_argument, maps_library, produce, records_in, rig, rss_bytes

from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate

TARGET_RSS_BYTES = 1.5 * 1024**3
FLAT_GROWTH = 0.10
MIB = 1024**2


def _pairs(count: int, fault_rate: float) -> Iterator[tuple[bytes | None, bytes]]:
    faults = FaultMix.uniform(fault_rate, "behavior")
    for record in generate("behavior", count, seed=7, faults=faults):
        yield record.key, record.value


def half_way_growth(samples: list[tuple[float, int, int]], total: int) -> tuple[int, int, float]:
    """(RSS at half of ``total`` consumed, RSS at the end, relative growth between).

    >>> half_way_growth([(0.0, 0, 100), (1.0, 50, 200), (2.0, 100, 210)], 100)
    (200, 210, 0.05)
    """
    middle = next(rss for _, seen, rss in samples if seen >= total / 2)
    final = samples[-1][2]
    return middle, final, round((final - middle) / middle, 4)


async def _run(args: argparse.Namespace) -> tuple[list[tuple[float, int, int]], bool]:
    async with rig() as the_rig:
        worker = the_rig.start_worker(**args.worker_env)
        assert worker.process is not None
        worker.wait_ready(timeout_s=120)
        pid = worker.process.pid
        started = time.monotonic()
        samples: list[tuple[float, int, int]] = [(0.0, 0, rss_bytes(pid))]
        producing = asyncio.create_task(
            produce(
                the_rig.bootstrap,
                the_rig.topics.behavior,
                _pairs(args.events, args.fault_rate),
                track=False,
            )
        )
        deadline = started + args.timeout
        while True:
            await asyncio.sleep(args.interval)
            worker.check_alive()
            seen = records_in(worker)
            samples.append((round(time.monotonic() - started, 2), seen, rss_bytes(pid)))
            if seen >= args.events:
                break
            if time.monotonic() > deadline:
                producing.cancel()
                raise TimeoutError(f"worker consumed {seen} of {args.events} in time")
            if producing.done():
                producing.result()  # raise a producer failure here, not at the end
        await producing
        return samples, maps_library(pid, "libtorch")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds")
    add_worker_env_argument(parser)
    args = parser.parse_args(argv)
    if args.events < 2 or args.interval <= 0:
        parser.error("--events must be >= 2 and --interval > 0")
    args.worker_env = dict(args.worker_env)

    samples, torch_loaded = asyncio.run(_run(args))
    middle, final, growth = half_way_growth(samples, args.events)
    peak = max(rss for _, _, rss in samples)
    step = max(1, len(samples) // 10)
    shown = samples[::step] if (len(samples) - 1) % step == 0 else samples[::step] + samples[-1:]
    print_table(
        [(t, seen, round(rss / MIB, 1)) for t, seen, rss in shown],
        ("seconds", "consumed", "RSS MiB"),
    )
    print(
        f"RSS half-way {middle / MIB:.0f} MiB, end {final / MIB:.0f} MiB "
        f"(growth {growth:+.1%}), peak {peak / MIB:.0f} MiB"
    )
    headline = [
        Figure(
            "memory",
            f"worker RSS after {args.events:,} events",
            final / MIB,
            "MiB",
            baseline=middle / MIB,
            target=f"<= {TARGET_RSS_BYTES / MIB:,.0f} MiB, <= {FLAT_GROWTH:.0%} growth in 2nd half",
            met=final <= TARGET_RSS_BYTES and growth <= FLAT_GROWTH,
        )
    ]
    details = {
        "events": args.events,
        "fault_rate": args.fault_rate,
        "worker_env": args.worker_env,
        "rss_half_way_mib": round(middle / MIB, 1),
        "rss_end_mib": round(final / MIB, 1),
        "rss_peak_mib": round(peak / MIB, 1),
        "growth_second_half": growth,
        # The embedding model runs on torch: its libraries mapped means it was loaded.
        "torch_loaded_in_worker": torch_loaded,
        "samples": [
            {"s": t, "consumed": seen, "rss_mib": round(rss / MIB, 1)} for t, seen, rss in samples
        ],
    }
    path = write_result("memory", headline, details, argv)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
