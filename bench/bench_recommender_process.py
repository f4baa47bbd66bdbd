"""Benchmark: the recommender child's work per event, in process, as the worker drives it.

Run: ``.venv/bin/python bench/bench_recommender_process.py [--events 150000] [--repeats 3]``.

``bench_e2e`` reports the recommender process's CPU per event while a worker drains
generator events; ``bench_recommender``'s in-process stand-in replays MovieLens, whose
users rate in bursts, so a user's list is computed after many of their events. The
worker's stream is the opposite: ``streamguard generate`` behaviour events of ~5,000
users in ~40 interleaved sessions, handed over in batches of ~940 clean events (the
worker's mean batch in ``bench_e2e``), each batch followed by a due-list request, at
~15,000 events/s of wall time (the drain's rate). So a user's list is computed after a
few of their events, and computing lists weighs more.

This stand-in does what the child does (:func:`streamguard.recommender.process.serve_child`)
per message, minus the socket: each batch's rows are the four fields the worker sends
(``RecommenderProcess.learn``), turned back into dicts and learned one by one
(``service.learn``); each due request builds the records and encodes them
(``process._answer``: ``orjson.dumps`` per record). The service is built by the child's
own ``_build_service`` (content on, the hashing embedder: the worker's stream has no
catalogue, so the content index stays empty either way). The clock is simulated:
``--rate`` events per second of wall time, the policy's 5 s bound.

Both algorithms run on the same events, alternating, ``--repeats`` times; the figure is
the best (least disturbed) CPU time (``time.process_time``) per event of each.

``--real-child`` also runs the real thing: a :class:`RecommenderProcess` (the child
process, the socket, pickling), fed the same batches with a due request after each (one
in flight, as the worker's ``publish_soon``), the child's CPU read from ``/proc``
(Linux) once its start-up is over. Run it from the repository root: the child imports
``streamguard`` from the working directory first. Prints a table and writes
``bench/results/recommender_process.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import orjson
from common import Figure, pin_to_one_core, print_table, write_result

from streamguard.recommender.process import (
    _LEARNED_FIELDS,
    RecommenderProcess,
    RecommenderSpec,
    _build_service,
)
from streamguard.sources.synthetic import generate

Row = tuple[Any, Any, Any, Any]
ALGORITHMS = ("item-cooc", "item-seq")


def worker_batches(count: int, batch: int, seed: int = 7) -> list[list[Row]]:
    """``count`` generator behaviour events as the worker hands them over: batches of
    ``(user_id, product_id, event_type, ts)`` rows (``RecommenderProcess.learn``)."""
    rows: list[Row] = []
    for record in generate("behavior", count, seed=seed):
        r = orjson.loads(record.value)
        rows.append((r.get("user_id"), r.get("product_id"), r.get("event_type"), r.get("ts")))
    return [rows[i : i + batch] for i in range(0, len(rows), batch)]


def child_cost_us(
    algorithm: str, batches: Sequence[Sequence[Row]], rate: float
) -> tuple[float, dict[str, int]]:
    """CPU microseconds per event of the child's work for ``batches`` (learn each
    batch, then answer a due request), and counts of what it did."""
    now = [0.0]
    spec = RecommenderSpec(min_interval_s=5.0, algorithm=algorithm, embedder="hashing")
    service, _ = _build_service(spec)
    service._clock = lambda: now[0]  # the simulated wall clock
    events = sum(len(b) for b in batches)
    published = 0
    fields = _LEARNED_FIELDS
    tick = time.process_time()
    for batch in batches:
        for row in batch:
            service.learn(dict(zip(fields, row, strict=True)))
        now[0] += len(batch) / rate
        due = [(str(r["user_id"]).encode(), orjson.dumps(r)) for r in service.due_records()]
        published += len(due)
    spent = time.process_time() - tick
    return spent / max(events, 1) * 1e6, {"events": events, "published": published}


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def real_child_cost_us(algorithm: str, batches: Sequence[Sequence[Row]]) -> float:
    """CPU microseconds per event of a real recommender child fed ``batches`` as the
    worker feeds it (wall clock: lists follow the 5 s bound in real time)."""
    fields = _LEARNED_FIELDS
    records = [[dict(zip(fields, row, strict=True)) for row in batch] for batch in batches]
    process = RecommenderProcess(RecommenderSpec(algorithm=algorithm, embedder="hashing"))
    try:
        process.due_records().result(120)  # started, snapshot-free, ready
        pid = process.pid
        assert pid is not None
        before = _process_cpu_s(pid)
        waiting: Future[Any] | None = None
        for batch in records:
            process.learn(batch)
            if waiting is None or waiting.done():
                waiting = process.due_records()
        process.due_records().result(600)  # everything before it is handled
        spent = _process_cpu_s(pid) - before
    finally:
        process.close()
    return spent / max(sum(len(b) for b in batches), 1) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in for both algorithms and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--batch", type=int, default=940, help="events per hand-over")
    parser.add_argument("--rate", type=float, default=15_000.0, help="events/s of wall time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS), help="comma-separated")
    parser.add_argument("--real-child", action="store_true", help="also a real child process")
    args = parser.parse_args(argv)

    core = pin_to_one_core()
    batches = worker_batches(args.events, args.batch)
    algorithms = args.algorithms.split(",")
    runs: dict[str, list[float]] = {name: [] for name in algorithms}
    counts: dict[str, dict[str, int]] = {}
    for _ in range(max(args.repeats, 1)):
        for name in algorithms:  # alternating: both see the same machine load
            cost, counts[name] = child_cost_us(name, batches, args.rate)
            runs[name].append(cost)
    child_runs: dict[str, list[float]] = {name: [] for name in algorithms}
    if args.real_child:
        for _ in range(max(args.repeats, 1)):
            for name in algorithms:
                child_runs[name].append(real_child_cost_us(name, batches))
    best = {name: min(costs) for name, costs in runs.items()}
    base = best.get("item-cooc")
    print_table(
        [
            (
                name,
                counts[name]["events"],
                counts[name]["published"],
                round(best[name], 2),
                " ".join(f"{c:.2f}" for c in runs[name]),
                round(best[name] / base, 3) if base else "",
            )
            for name in algorithms
        ],
        ("algorithm", "events", "lists", "best us/event", "runs", "vs item-cooc"),
    )
    child_best = {name: min(costs) for name, costs in child_runs.items() if costs}
    child_base = child_best.get("item-cooc")
    if child_best:
        print("real child process:")
        print_table(
            [
                (
                    name,
                    round(child_best[name], 2),
                    " ".join(f"{c:.2f}" for c in child_runs[name]),
                    round(child_best[name] / child_base, 3) if child_base else "",
                )
                for name in child_best
            ],
            ("algorithm", "best us/event", "runs", "vs item-cooc"),
        )
    headline: list[Figure] = []
    if base is not None and "item-seq" in best:
        headline.append(
            Figure(
                "recommender_process",
                "item-seq child CPU per event, worker's pattern, vs item-cooc (same run)",
                best["item-seq"],
                "us/event",
                baseline=base,
                target="<= item-cooc",
                met=best["item-seq"] <= base,
            )
        )
    if child_base is not None and "item-seq" in child_best:
        headline.append(
            Figure(
                "recommender_process",
                "item-seq real child CPU per event, worker's pattern, vs item-cooc (same run)",
                child_best["item-seq"],
                "us/event",
                baseline=child_base,
                target="<= item-cooc",
                met=child_best["item-seq"] <= child_base,
            )
        )
    details = {
        "dataset": "streamguard generate behaviour events (seed 7, no faults)",
        "pinned_cpu": core,
        "batch": args.batch,
        "rate": args.rate,
        "us_per_event": runs,
        "real_child_us_per_event": child_runs,
        "counts": counts,
    }
    path = write_result("recommender_process", headline, details, argv)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
