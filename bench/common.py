"""Shared helpers of the benchmark scripts: timing, machine description, result files.

Every ``bench/bench_*.py`` writes ``bench/results/<name>.json`` through
:func:`write_result`, so each result names the machine, the git revision, the date and
the command, and carries a ``headline`` list that ``bench/summary.py`` (the last step of
``make bench``) prints as one table.

Examples
--------
>>> figure = Figure("core", "pipeline", 60_000.0, "events/s", baseline=1_000_000.0,
...                 target=">= 0.25 of baseline", met=False)
>>> round(figure.ratio or 0, 3)
0.06
>>> figure.as_dict()["ratio"]
0.06
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS",
    "Figure",
    "Timing",
    "git_revision",
    "machine",
    "pin_to_one_core",
    "print_table",
    "time_runs",
    "write_result",
]

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Figure:
    """One headline number of a benchmark, with its same-run baseline when it has one."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    target: str | None = None
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` (None without a baseline)."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as stored under ``headline`` in the result file."""
        ratio = self.ratio
        return {
            "metric": self.metric,
            "value": round(self.value, 3),
            "unit": self.unit,
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "ratio": None if ratio is None else round(ratio, 4),
            "target": self.target,
            "met": self.met,
        }


@dataclass(frozen=True)
class Timing:
    """Repeated runs of one workload: the best and median rates, by CPU and wall time."""

    items: int
    cpu_s: tuple[float, ...]
    wall_s: tuple[float, ...]

    @property
    def best_rate(self) -> float:
        """Items per CPU-second of the fastest run (the least disturbed by neighbours)."""
        return self.items / min(self.cpu_s)

    @property
    def median_rate(self) -> float:
        """Items per CPU-second of the median run."""
        return self.items / statistics.median(self.cpu_s)

    @property
    def best_wall_rate(self) -> float:
        """Items per wall-clock second of the fastest run."""
        return self.items / min(self.wall_s)


def time_runs(run: Callable[[], int], repeats: int) -> Timing:
    """Run ``run`` (which returns how many items it handled) ``repeats`` times.

    CPU time is the figure of merit for one-core throughput on a shared machine: it
    does not count the time a neighbour's process held the core.

    >>> timing = time_runs(lambda: sum(range(1000)) and 1000, repeats=2)
    >>> timing.items, len(timing.cpu_s)
    (1000, 2)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    cpu, wall, items = [], [], 0
    for _ in range(repeats):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        items = run()
        wall.append(time.perf_counter() - wall_start)
        # process_time ticks coarsely on some kernels: never divide by zero.
        cpu.append(max(time.process_time() - cpu_start, 1e-9))
    return Timing(items, tuple(cpu), tuple(wall))


def pin_to_one_core() -> int | None:
    """Pin this process to one CPU (the last one it may use); None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_1m": None if load is None else round(load[0], 2),
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_revision() -> str:
    """``HEAD``'s short hash, with ``+dirty`` when tracked files have changes."""
    try:
        rev = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev


def write_result(
    name: str,
    headline: Sequence[Figure],
    details: dict[str, Any],
    argv: Sequence[str] | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else f"bench_{name}.py"
    args = list(sys.argv[1:] if argv is None else argv)
    document = {
        "benchmark": name,
        "command": " ".join([f".venv/bin/python bench/{script}", *args]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine(),
        "headline": [figure.as_dict() for figure in headline],
        **details,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """Print ``rows`` under ``header`` as aligned columns (numbers right-aligned).

    >>> print_table([("core", 61234.5)], ("bench", "events/s"))
    bench  events/s
    -----  --------
    core     61,234
    """
    cells = [list(header)] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) and bool(rows)
        for i in range(len(header))
    ]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                cell.rjust(width) if is_number else cell.ljust(width)
                for cell, width, is_number in zip(row, widths, numeric, strict=True)
            ).rstrip()
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
