"""``streamguard check`` end to end: events/s of the command a user runs, start-up included.

Generates ``--events`` behaviour events once (``streamguard generate``, the generator's
default faults), then runs ``streamguard check FILE`` (defaults: the drift engine, the
ONNX embedder, the child process) and ``--no-drift`` as a user would: a fresh
interpreter each run, the wall clock from start to exit. With ``--baseline DIR`` (a
checkout of another revision, e.g. ``git worktree add /tmp/base <rev>``) the same runs
alternate between it and this tree, so a noisy machine affects both alike; read the
ratio. User and system CPU of the run (both processes) come from ``wait4``.

Writes ``bench/results/check.json``. The issue-27 target: >= 35,000 events/s on 200,000
behaviour events with the defaults, on 2 cores.

    .venv/bin/python bench/bench_check.py --events 200000 --repeats 3 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Figure, print_table, write_result  # noqa: E402

TARGET = 35_000.0


def _run(tree: Path, data: Path, out: Path, extra: list[str]) -> dict[str, float]:
    """One ``streamguard check`` of ``tree``'s package: wall seconds and CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys; from streamguard.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, "check", str(data), "--out", str(out), *extra]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tree
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"check failed in {tree}:\n{stderr[-2000:]}")
    return {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to alternate with")
    parser.add_argument("--file", type=Path, help="use this JSON-lines file instead")
    args = parser.parse_args(argv)
    trees = {"this": REPO}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), "this": REPO}
    work = Path(tempfile.mkdtemp(prefix="bench-check-"))
    try:
        data = args.file
        if data is None:
            data = work / "events.jsonl"
            generate = str(Path(sys.executable).parent / "streamguard")
            subprocess.run(
                [generate, "generate", "--stream", "behavior"]
                + ["--count", str(args.events), "--out", str(data)],
                check=True,
                capture_output=True,
            )
        events = sum(1 for _ in data.open("rb"))
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            name: {"defaults": [], "no-drift": []} for name in trees
        }
        for _ in range(args.repeats):
            for mode, extra in (("defaults", []), ("no-drift", ["--no-drift"])):
                for name, tree in trees.items():
                    runs[name][mode].append(_run(tree, data, work / f"out-{name}", extra))
        rows: list[tuple[Any, ...]] = []
        summary: dict[str, Any] = {}
        for name in trees:
            for mode in ("defaults", "no-drift"):
                walls = [run["wall_s"] for run in runs[name][mode]]
                cpu = [run["user_s"] + run["sys_s"] for run in runs[name][mode]]
                best = min(walls)
                summary[f"{name} {mode}"] = {
                    "events_per_s_best": round(events / best, 1),
                    "events_per_s_median": round(events / statistics.median(walls), 1),
                    "runs": runs[name][mode],
                }
                rows.append(
                    (
                        name,
                        mode,
                        round(best, 2),
                        round(statistics.median(walls), 2),
                        round(events / best),
                        round(statistics.median(cpu), 2),
                    )
                )
        print_table(
            rows, ("tree", "mode", "best wall s", "median wall s", "events/s (best)", "CPU s")
        )
        this = summary["this defaults"]["events_per_s_best"]
        base = summary.get("baseline defaults", {}).get("events_per_s_best")
        headline = [
            Figure(
                "check",
                f"streamguard check, defaults, {events:,} behaviour events",
                this,
                "events/s",
                baseline=base,
                target=f">= {TARGET:,.0f} events/s",
                met=this >= TARGET,
            )
        ]
        path = write_result("check", headline, {"events": events, "summary": summary})
        print(f"wrote {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
