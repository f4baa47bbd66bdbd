"""Where a busy worker's time goes: py-spy on a ``streamguard worker`` draining a backlog.

Run: ``.venv/bin/python bench/profile_worker.py [--events 30000] [--seconds 20]``.

Produces the backlog on an embedded broker, starts one worker, and once it is consuming
records ``py-spy record`` samples it (``--idle`` included, so time spent waiting on the
event loop shows). Writes ``bench/results/profile_worker.txt``: per thread, the functions
with the most samples by own time and by total time, plus the raw collapsed stacks
(``profile_worker.folded``; load it in speedscope or flamegraph.pl). Not part of
``make bench``: it is a diagnosis tool, not a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import RESULTS
from rig import produce, records_in, rig

from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate


def summarize(folded: str, top: int) -> str:
    """Per-thread own-time and total-time tables (share of samples) from collapsed
    stacks whose first frame names the thread (py-spy ``--threads``).

    >>> print(summarize("main;a;b 3\\nmain;a;c 1\\nio;d 4\\n", top=2))
    samples: 8
    main: 50.0% of samples
      own time:
         75.0%  b
         25.0%  c
      total time:
        100.0%  a
         75.0%  b
    io: 50.0% of samples
      own time:
        100.0%  d
      total time:
        100.0%  d
    """
    own: dict[str, Counter[str]] = {}
    total: dict[str, Counter[str]] = {}
    per_thread: Counter[str] = Counter()
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2:
            continue
        thread, count = frames[0], int(count_text)
        per_thread[thread] += count
        own.setdefault(thread, Counter())[frames[-1]] += count
        for frame in set(frames[1:]):
            total.setdefault(thread, Counter())[frame] += count
    samples = sum(per_thread.values())
    lines = [f"samples: {samples}"]
    for thread, count in per_thread.most_common():
        lines.append(f"{thread}: {100 * count / samples:.1f}% of samples")
        for title, table in (("own time", own[thread]), ("total time", total[thread])):
            lines.append(f"  {title}:")
            lines += [f"  {100 * n / count:6.1f}%  {name}" for name, n in table.most_common(top)]
    return "\n".join(lines)


async def _profile(
    events: int, seconds: float, rate: int, out: Path, offered_rate: float | None
) -> None:
    faults = FaultMix.uniform(0.1, "behavior")
    pairs = [(r.key, r.value) for r in generate("behavior", events, seed=7, faults=faults)]
    async with rig() as the_rig:
        producing: asyncio.Task[object] | None = None
        if offered_rate is None:
            await produce(the_rig.bootstrap, the_rig.topics.behavior, pairs)
        worker = the_rig.start_worker()
        assert worker.process is not None
        if offered_rate is not None:
            worker.wait_ready()
            producing = asyncio.ensure_future(
                produce(the_rig.bootstrap, the_rig.topics.behavior, pairs, rate=offered_rate)
            )
        deadline = time.monotonic() + 120
        while records_in(worker) == 0:
            worker.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError("the worker never consumed a record")
            await asyncio.sleep(0.2)
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [
            py_spy,
            "record",
            "--pid",
            str(worker.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(rate),
            "--idle",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ]
        # py-spy blocks for --duration: run it in a thread so the broker keeps serving.
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
        print(f"worker consumed {records_in(worker)} of {events} while profiled")
        if producing is not None:
            producing.cancel()


def main(argv: list[str] | None = None) -> int:
    """Profile a worker and write the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="functions per table")
    parser.add_argument(
        "--offered-rate",
        type=float,
        default=None,
        help="events/s offered while profiling (a worker keeping up), instead of a backlog",
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    folded = RESULTS / "profile_worker.folded"
    asyncio.run(_profile(args.events, args.seconds, args.rate, folded, args.offered_rate))
    summary = summarize(folded.read_text(), args.top)
    (RESULTS / "profile_worker.txt").write_text(summary + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
