"""Benchmark *inventory*: ``streamguard inventory`` on one core, against ``orjson.loads``.

Run: ``.venv/bin/python bench/bench_inventory.py [--records 200000] [--model hashing]``.

Generated behaviour events (the shipped generator, with a 10% fault mix as in
``bench_core``) are written to a temporary JSON-lines file; each run profiles the file
the way the command does (:func:`streamguard.commands.inventory.profile_file`) and then
takes the snapshot with meaning tags from the embedding model (``--model``, default the
configured one; loaded and warmed before timing, so the runs count its forward passes
over the field summaries, not its start). The baseline reads the same file and calls
``orjson.loads`` on each line, in the same run. A third row profiles value by value
(batching off) to show what the per-path batches buy. Rates are per CPU-second of the
best of ``--repeats`` runs, pinned to one core. Writes ``bench/results/inventory.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
from common import Figure, pin_to_one_core, print_table, time_runs, write_result

from streamguard.commands.inventory import profile_file
from streamguard.config import Settings
from streamguard.embed.base import Embedder
from streamguard.inventory import Tagger
from streamguard.inventory import profile as profile_module
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate

#: Done-when target of issue 21.
TARGET_RATE = 50_000.0


def _loads_only(path: Path) -> Callable[[], int]:
    def run() -> int:
        loads, error, count = orjson.loads, orjson.JSONDecodeError, 0
        with path.open("rb") as lines:
            for line in lines:
                count += 1
                try:
                    loads(line)
                except error:
                    pass
        return count

    return run


def _inventory(
    path: Path, records: int, embedder: Embedder | None, batch: int
) -> Callable[[], int]:
    def run() -> int:
        saved = profile_module.BATCH_RECORDS
        profile_module.BATCH_RECORDS = batch
        try:
            profile = profile_file(path, "behavior")
            snapshot = profile.snapshot(Tagger(embedder))
        finally:
            profile_module.BATCH_RECORDS = saved
        assert snapshot["records"] == records, snapshot["records"]
        return records

    return run


def _embedder(model: str) -> Embedder:
    from streamguard.wiring import build_embedder

    embedder = build_embedder(Settings(model=model, device="cpu"))
    embedder.embed(["warm up the model"])
    return embedder


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its table and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model", default=Settings().model, help="embedding model for the tags ('hashing': fake)"
    )
    parser.add_argument(
        "--unbatched-records", type=int, default=50_000, help="records of the per-value row"
    )
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be >= 1")
    core = pin_to_one_core()
    embedder = _embedder(args.model)

    faults = FaultMix.uniform(args.fault_rate, "behavior")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "behavior.jsonl"
        values = [r.value or b"" for r in generate("behavior", args.records, seed=7, faults=faults)]
        lines = [v for v in values if v.strip() and b"\n" not in v]
        path.write_bytes(b"".join(v + b"\n" for v in lines))
        small = Path(tmp) / "small.jsonl"
        small_lines = lines[: args.unbatched_records]
        small.write_bytes(b"".join(v + b"\n" for v in small_lines))
        mean_bytes = sum(map(len, lines)) / len(lines)

        floor = time_runs(_loads_only(path), args.repeats)
        batched = time_runs(_inventory(path, len(lines), embedder, 256), args.repeats)
        no_model = time_runs(_inventory(path, len(lines), None, 256), args.repeats)
        unbatched = time_runs(_inventory(small, len(small_lines), embedder, 1), 1)

    rate, floor_rate = batched.best_rate, floor.best_rate
    rows = [
        ("orjson.loads", floor_rate, 1e6 / floor_rate, 1.0),
        ("inventory + model tags", rate, 1e6 / rate, rate / floor_rate),
        ("inventory, no model", no_model.best_rate, 1e6 / no_model.best_rate, None),
        ("inventory, value by value", unbatched.best_rate, 1e6 / unbatched.best_rate, None),
    ]
    print_table(
        [
            (name, round(r), round(us, 2), None if q is None else round(q, 4))
            for name, r, us, q in rows
        ],
        ("workload", "records/s", "µs/record", "ratio to loads"),
    )
    headline = [
        Figure(
            "inventory",
            "behaviour events profiled/s, one core, model tags included",
            rate,
            "records/s",
            baseline=floor_rate,
            target=f">= {TARGET_RATE:,.0f}/s",
            met=rate >= TARGET_RATE,
        )
    ]
    details = {
        "records": len(lines),
        "mean_bytes": round(mean_bytes, 1),
        "fault_rate": args.fault_rate,
        "model": args.model,
        "repeats": args.repeats,
        "pinned_cpu": core,
        "rows": [
            {
                "workload": name,
                "records_per_s": round(r),
                "us_per_record": round(us, 2),
                "ratio_to_orjson": None if q is None else round(q, 4),
            }
            for name, r, us, q in rows
        ],
        "median_inventory_per_s": round(batched.median_rate),
        "note": "shared machine: compare the ratio to orjson.loads, not the absolute rates",
    }
    path_written = write_result("inventory", headline, details, argv)
    print(f"wrote {path_written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
