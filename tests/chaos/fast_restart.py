"""Chaos: kill -9 the worker at a random point and restart it at once (dead member still
in the group), repeatedly; report per run whether every input came out in exactly one
destination, and how many records the consumer skipped and the worker re-read.

Run: ``.venv/bin/python tests/chaos/fast_restart.py [--runs N] [--records N]``.
Not part of ``make test`` (minutes per run); the kill -9 integration test is one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    assert_exactly_one_destination,
    free_port,
    produce,
    read_outputs,
    wait_until,
    worker_env,
)


def one_run(broker: EmbeddedBroker, records: int, seed: int) -> str:
    """One kill -9 + immediate restart; 'ok' or what went wrong."""
    topics, port = Topics.unique(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = worker_env(broker.bootstrap, topics, Path(tmp) / "state", port)
        first = WorkerProcess(env, Path(tmp) / "w1.log", port).start()
        second = WorkerProcess(env, Path(tmp) / "w2.log", port)
        try:
            first.wait_ready()
            faults = FaultMix.uniform(0.3, "both")
            batch = list(generate("both", records, seed=seed, faults=faults))
            placed = asyncio.run(produce(broker.bootstrap, topics, batch))
            # Kill at a random point: before any processing, mid-stream, or near the end.
            kill_after = random.Random(seed).randint(0, records)
            wait_until(
                lambda: first.metric_sum("streamguard_records_in_total") >= kill_after,
                60,
                f"the first worker to process {kill_after} records",
            )
            first.kill9()
            second.start().wait_ready()
            outputs = asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
            assert_exactly_one_destination(topics, placed, outputs)
            reread = second.metric_sum("streamguard_skipped_records_reread_total")
            return f"ok (killed after {kill_after}; {reread:.0f} skipped records re-read)"
        except (AssertionError, TimeoutError) as exc:
            return f"FAILED: {str(exc)[:200]}"
        finally:
            for worker in (first, second):
                if worker.process is not None:
                    worker.stop()


def main() -> int:
    """Run the chaos loop and print a line per run and a summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=4000)
    args = parser.parse_args()
    failures = 0
    with EmbeddedBroker() as broker:
        for run in range(args.runs):
            result = one_run(broker, args.records, seed=run)
            failures += not result.startswith("ok")
            print(f"run {run + 1}/{args.runs}: {result}", flush=True)
    print(f"{args.runs - failures}/{args.runs} runs lost nothing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
