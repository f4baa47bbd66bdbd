"""Benchmark *core*: the pure record pipeline on one core, against ``orjson.loads``.

Run: ``.venv/bin/python bench/bench_core.py [--records 200000] [--fault-rate 0.1]``.

The pipeline (decode -> repair -> validate -> dedupe -> route -> serialize) runs over
generated behaviour events with a fault mix (every fault kind), pinned to one core. The
baseline is ``orjson.loads`` alone over the same bytes, the floor of any JSON pipeline,
measured in the same run; a second floor, ``loads`` + add ``_dq`` + ``dumps``, is what a
pipeline that checks nothing would cost. Rates are per CPU-second of the best of
``--repeats`` runs, so a busy neighbour on the shared machine skews them less. Writes
``bench/results/core.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import orjson
from common import Figure, pin_to_one_core, print_table, time_runs, write_result

from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex

#: Done-when targets of issue 7.
TARGET_RATE = 50_000.0
TARGET_RATIO = 0.25


def _loads_only(values: list[bytes]) -> Callable[[], int]:
    def run() -> int:
        loads, error = orjson.loads, orjson.JSONDecodeError
        for value in values:
            try:
                loads(value)
            except error:
                pass
        return len(values)

    return run


def _loads_dumps(values: list[bytes]) -> Callable[[], int]:
    """Decode, attach a fixed ``_dq`` block, encode: a pipeline that checks nothing."""

    def run() -> int:
        loads, dumps, error = orjson.loads, orjson.dumps, orjson.JSONDecodeError
        for offset, value in enumerate(values):
            try:
                record = loads(value)
            except error:
                continue
            if isinstance(record, dict):
                record["_dq"] = {
                    "status": "valid",
                    "corrections": [],
                    "source": {"topic": "bench", "partition": 0, "offset": offset},
                }
                dumps(record)
        return len(values)

    return run


def _pipeline(values: list[bytes], stream: StreamName, fast_path: bool) -> Callable[[], int]:
    def run() -> int:
        pipeline = RecordPipeline(stream, dedupe=DedupeIndex(), fast_path=fast_path)
        process = pipeline.process
        for offset, value in enumerate(values):
            process(value, SourcePosition("bench", 0, offset))
        return len(values)

    return run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--product-records",
        type=int,
        default=50_000,
        help="product events measured too (0 to skip)",
    )
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be >= 1")
    core = pin_to_one_core()

    rows: list[dict[str, object]] = []
    plan: list[tuple[StreamName, int]] = [("behavior", args.records)]
    if args.product_records > 0:
        plan.append(("product", args.product_records))
    for stream, count in plan:
        faults = FaultMix.uniform(args.fault_rate, stream)
        values = [r.value for r in generate(stream, count, seed=7, faults=faults)]
        floor = time_runs(_loads_only(values), args.repeats)
        echo = time_runs(_loads_dumps(values), args.repeats)
        fast = time_runs(_pipeline(values, stream, fast_path=True), args.repeats)
        full = time_runs(_pipeline(values, stream, fast_path=False), max(1, args.repeats - 1))
        rows.append(
            {
                "stream": stream,
                "records": count,
                "mean_bytes": round(sum(map(len, values)) / count, 1),
                "orjson_loads_per_s": round(floor.best_rate),
                "loads_dumps_per_s": round(echo.best_rate),
                "pipeline_per_s": round(fast.best_rate),
                "pipeline_median_per_s": round(fast.median_rate),
                "pipeline_wall_per_s": round(fast.best_wall_rate),
                "pipeline_us_per_record": round(1e6 / fast.best_rate, 2),
                "full_path_only_per_s": round(full.best_rate),
                "ratio_to_orjson": round(fast.best_rate / floor.best_rate, 4),
                "ratio_to_loads_dumps": round(fast.best_rate / echo.best_rate, 4),
            }
        )

    print_table(
        [
            (
                r["stream"],
                r["orjson_loads_per_s"],
                r["loads_dumps_per_s"],
                r["pipeline_per_s"],
                r["pipeline_us_per_record"],
                r["full_path_only_per_s"],
                r["ratio_to_orjson"],
            )
            for r in rows
        ],
        ("stream", "loads/s", "loads+dumps/s", "pipeline/s", "µs/rec", "no-fast-path/s", "ratio"),
    )
    behavior = rows[0]
    rate, floor_rate = (
        float(str(behavior["pipeline_per_s"])),
        float(str(behavior["orjson_loads_per_s"])),
    )
    headline = [
        Figure(
            "core",
            "behavior events/s, one core",
            rate,
            "events/s",
            baseline=floor_rate,
            target=f">= {TARGET_RATE:,.0f}/s and >= {TARGET_RATIO:.0%} of orjson.loads",
            met=rate >= TARGET_RATE and rate / floor_rate >= TARGET_RATIO,
        )
    ]
    path = write_result(
        "core",
        headline,
        {"fault_rate": args.fault_rate, "repeats": args.repeats, "pinned_cpu": core, "rows": rows},
        argv,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
