"""``streamguard demo``: embedded broker + synthetic producer with faults + worker + a live
summary read from the worker's own /metrics endpoint.

Everything runs on 127.0.0.1; the worker is a child process (``streamguard worker``), so
what the demo shows is exactly what production runs. Ctrl-C or ``--duration`` ends it:
the producer stops, the worker gets SIGTERM and commits, the broker stops. If the demo
itself is killed (``kill -9``), the broker and the worker die with it (see
:mod:`streamguard.devtools.lifeline`) instead of holding their ports as orphans.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from streamguard.config import Settings
from streamguard.observability.scrape import MetricsSnapshot
from streamguard.runtime.ports import free_port

__all__ = ["add_arguments", "format_summary", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard demo``."""
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    parser.add_argument("--rate", type=float, default=300.0, help="events per second")
    parser.add_argument(
        "--fault-rate", type=float, default=0.15, help="share of records with a fault"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between summaries")


def format_summary(
    now: MetricsSnapshot, before: MetricsSnapshot | None, seconds: float, produced: int
) -> str:
    """A few lines for a human: rates, outcomes, top reasons and corrections.

    >>> text = 'streamguard_records_in_total{stream="behavior"} 10.0\\n' \\
    ...        'streamguard_records_out_total{stream="behavior",outcome="valid"} 9.0\\n' \\
    ...        'streamguard_records_out_total{stream="behavior",outcome="quarantine"} 1.0\\n'
    >>> print(format_summary(MetricsSnapshot(text), None, 2.0, 12))
    produced 12 | checked 10 (5/s) | lag 0
      behavior: valid 9 (90.0%), corrected 0 (0.0%), quarantine 1 (10.0%)
    """
    rate = (now.total_in - (before.total_in if before else 0.0)) / seconds if seconds else 0.0
    lines = [f"produced {produced} | checked {now.total_in:.0f} ({rate:.0f}/s) | lag {now.lag:.0f}"]
    for stream in sorted(now.records_in):
        outcomes = {o: now.records_out[stream, o] for o in ("valid", "corrected", "quarantine")}
        total = sum(outcomes.values()) or 1.0
        parts = ", ".join(f"{o} {n:.0f} ({100 * n / total:.1f}%)" for o, n in outcomes.items())
        lines.append(f"  {stream}: {parts}")
    if now.reasons:
        top = ", ".join(f"{k} {v:.0f}" for k, v in now.reasons.most_common(5))
        lines.append(f"  top reasons: {top}")
    if now.corrections:
        top = ", ".join(f"{k} {v:.0f}" for k, v in now.corrections.most_common(5))
        lines.append(f"  corrections: {top}")
    return "\n".join(lines)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except OSError:
        return 0, ""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo; 0 after a clean stop, 1 if the worker failed."""
    from streamguard.devtools import lifeline
    from streamguard.devtools.broker import EmbeddedBroker
    from streamguard.sources.fault_kinds import FaultMix, GeneratedRecord
    from streamguard.sources.output import produce
    from streamguard.sources.synthetic import generate

    port = settings.metrics_port if _port_free(settings.metrics_port) else free_port()
    state_dir = Path(tempfile.mkdtemp(prefix="streamguard-demo-"))
    stop = threading.Event()
    produced = 0

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    broker = EmbeddedBroker().start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        env = {
            **os.environ,
            "STREAMGUARD_BROKER": broker.url,
            "STREAMGUARD_METRICS_PORT": str(port),
            "STREAMGUARD_DATA_DIR": str(state_dir),
            "STREAMGUARD_SESSION_TIMEOUT_S": "6",
        }
        log_path = state_dir / "worker.log"
        print(
            f"broker {broker.url}; worker log {log_path}; metrics http://127.0.0.1:{port}/metrics"
        )
        with log_path.open("wb") as log:
            # Dies with the demo even on kill -9 (lifeline), like the broker.
            worker = lifeline.spawn(
                [sys.executable, "-m", "streamguard.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while _get(f"{base}/readyz")[0] != 200:
            if worker.poll() is not None or time.monotonic() > deadline or stop.is_set():
                print(f"the worker did not become ready; see {log_path}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print("worker ready; producing")

        def records() -> Iterator[GeneratedRecord]:
            nonlocal produced
            faults = FaultMix.uniform(args.fault_rate, "both")
            for record in generate("both", None, seed=args.seed, faults=faults):
                if stop.is_set():
                    return
                produced += 1
                yield record

        topics = {"behavior": settings.topic_behavior, "product": settings.topic_product}
        producer = threading.Thread(
            target=lambda: asyncio.run(
                produce(
                    records(), broker.bootstrap, topics, rate=args.rate, progress_interval_s=1e9
                )
            ),
            name="demo-producer",
            daemon=True,
        )
        producer.start()
        started = last_at = time.monotonic()
        last: MetricsSnapshot | None = None
        try:
            while not stop.is_set():
                if args.duration is not None and time.monotonic() - started >= args.duration:
                    break
                stop.wait(
                    min(
                        args.interval,
                        max(0.1, (args.duration or 1e9) - (time.monotonic() - started)),
                    )
                )
                if worker.poll() is not None:
                    print(
                        f"the worker exited ({worker.returncode}); see {log_path}", file=sys.stderr
                    )
                    return 1
                now = time.monotonic()
                snapshot = MetricsSnapshot(_get(f"{base}/metrics")[1])
                print(format_summary(snapshot, last, now - last_at, produced), flush=True)
                last, last_at = snapshot, now
        except KeyboardInterrupt:
            pass
        stop.set()
        producer.join(timeout=30)
        # Let the worker drain what was produced before the final summary.
        drain_deadline = time.monotonic() + 30
        while time.monotonic() < drain_deadline:
            snapshot = MetricsSnapshot(_get(f"{base}/metrics")[1])
            if snapshot.total_in >= produced:
                break
            time.sleep(0.2)
        print("final:")
        print(format_summary(snapshot, None, time.monotonic() - started, produced))
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        broker.stop()
