"""Latency produce -> clean of a worker keeping up with a live stream, at several rates.

Run: ``.venv/bin/python bench/latency_sweep.py [--rates 300 500 800] [--seconds 15]``.

One warm ``streamguard worker`` on the embedded broker; for each rate, ``--repeats``
phases of fresh behaviour events (10% faults) offered for ``--seconds``, each waited out
before the next. Latency of a record = from its produce timestamp to its output being
acknowledged, from the worker's own histogram over exactly that phase (see
``bench_e2e.py``). Unlike ``bench_e2e.py``'s latency phases, no saturating phase comes
first. Writes ``bench/results/latency_sweep.json``. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench_e2e import TARGET_P99_MS, _latency
from common import Figure, print_table, write_result
from rig import add_worker_env_argument, rig


async def _sweep(args: argparse.Namespace) -> list[dict[str, float]]:
    points: list[dict[str, float]] = []
    async with rig() as the_rig:
        worker = the_rig.start_worker(**args.worker_env)
        worker.wait_ready(timeout_s=180)
        for rate in args.rates:
            for repeat in range(args.repeats):
                point = await _latency(
                    worker,
                    the_rig.bootstrap,
                    the_rig.topics.behavior,
                    rate,
                    args.seconds,
                    seed=100 + len(points),
                    timeout_s=args.timeout,
                )
                points.append({"rate": rate, "repeat": repeat, **point})
    return points


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, print a table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[300.0, 500.0, 800.0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds")
    add_worker_env_argument(parser)
    args = parser.parse_args(argv)
    args.worker_env = dict(args.worker_env)
    points = asyncio.run(_sweep(args))
    print_table(
        [(p["offered_per_s"], p["p50_ms"], p["p99_ms"], p["share_within_250ms"]) for p in points],
        ("offered events/s", "p50 ms", "p99 ms", "within 250 ms"),
    )
    headline = [
        Figure(
            "latency_sweep",
            f"p99 produce->clean at {p['offered_per_s']:,.0f}/s",
            p["p99_ms"],
            "ms",
            target=f"<= {TARGET_P99_MS:.0f} ms",
            met=p["p99_ms"] <= TARGET_P99_MS,
        )
        for p in points
    ]
    path = write_result(
        "latency_sweep", headline, {"points": points, "worker_env": args.worker_env}, argv
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
