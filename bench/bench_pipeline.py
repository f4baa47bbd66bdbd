"""Benchmark: the pure record pipeline against orjson.loads as a same-run baseline.

Run: ``.venv/bin/python bench/bench_pipeline.py [--records N] [--fault-rate R]``.
Prints a table and writes ``bench/results/pipeline.json``. Ratios matter more than
absolute figures: the machines here are noisy, so each row is compared with the
bare-decode ceiling measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from streamguard.dedupe import DedupeIndex
from streamguard.pipeline import RecordPipeline
from streamguard.records import SourcePosition
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate

RESULTS = Path(__file__).parent / "results"


def _best_rate(run: Callable[[], int], repeats: int) -> tuple[float, float]:
    """(best, median) records per second over ``repeats`` runs."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    rows: list[dict[str, object]] = []
    for stream in ("behavior", "product"):
        faults = FaultMix.uniform(args.fault_rate, stream)
        values = [r.value for r in generate(stream, args.records, seed=7, faults=faults)]
        total_bytes = sum(len(v) for v in values)

        def decode_only(values: list[bytes] = values) -> int:
            for value in values:
                try:
                    orjson.loads(value)
                except orjson.JSONDecodeError:
                    pass
            return len(values)

        def pipeline_run(values: list[bytes] = values, stream: str = stream) -> int:
            pipeline = RecordPipeline(stream, dedupe=DedupeIndex())  # type: ignore[arg-type]
            for offset, value in enumerate(values):
                pipeline.process(value, SourcePosition("bench", 0, offset))
            return len(values)

        baseline, baseline_median = _best_rate(decode_only, args.repeats)
        best, median = _best_rate(pipeline_run, args.repeats)
        rows.append(
            {
                "stream": stream,
                "records": len(values),
                "mean_bytes": round(total_bytes / len(values), 1),
                "orjson_loads_per_s": round(baseline),
                "pipeline_per_s": round(best),
                "pipeline_median_per_s": round(median),
                "pipeline_us_per_record": round(1e6 / best, 2),
                "ratio_to_orjson": round(best / baseline, 4),
            }
        )

    header = f"{'stream':<9} {'orjson/s':>11} {'pipeline/s':>11} {'µs/rec':>8} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['stream']!s:<9} {row['orjson_loads_per_s']:>11,} {row['pipeline_per_s']:>11,}"
            f" {row['pipeline_us_per_record']:>8} {row['ratio_to_orjson']:>7}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "pipeline",
        "command": " ".join(["bench/bench_pipeline.py", *(argv or sys.argv[1:])]),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "fault_rate": args.fault_rate,
        "rows": rows,
    }
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'pipeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
