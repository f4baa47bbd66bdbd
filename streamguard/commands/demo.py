"""``streamguard demo``: embedded broker + a scripted scenario + worker + a live summary.

Everything runs on 127.0.0.1; the worker is a child process (``streamguard worker``), so
what the demo shows is exactly what production runs. By default the generator plays
:func:`streamguard.sources.scenario.demo_scenario` (healthy traffic, a fault burst on
behaviour events, a semantic drift on product descriptions, recovery); ``--scenario
none`` sends steady traffic with ``--fault-rate`` faults instead. The worker's alerts go
to a local webhook receiver (:class:`~streamguard.devtools.webhook_sink.WebhookSink`,
signed with a secret made for the run), and the summary shows, besides routing, the
quality scores, incidents as their notifications arrive, drift findings and
recommendations (read from their topics). The demo passes its worker short windows
(:data:`DEMO_WORKER_SETTINGS`) so that an incident opens and resolves within a minute;
the defaults in :mod:`streamguard.config` are untouched.

Ctrl-C or ``--duration`` ends it: the producer stops, the worker gets SIGTERM and
commits, the broker stops. If the demo itself is killed (``kill -9``), the broker and the
worker die with it (see :mod:`streamguard.devtools.lifeline`) instead of holding their
ports as orphans.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from streamguard.commands.demo_view import DemoView, format_summary
from streamguard.config import Settings
from streamguard.observability.scrape import MetricsSnapshot
from streamguard.runtime.ports import free_port

if TYPE_CHECKING:
    from streamguard.kafka.side_reader import SourceRecord
    from streamguard.sources.fault_kinds import GeneratedRecord
    from streamguard.sources.scenario import Scenario

__all__ = ["DEMO_WORKER_SETTINGS", "add_arguments", "demo_worker_env", "run"]

#: The demo worker's own settings (environment variables without the ``STREAMGUARD_``
#: prefix), short enough that an incident opens and resolves within the 60 s default:
#: quality windows of 100 records, 8 of them learnt before a drop counts, incidents paged
#: 2 s after they open and resolved 5 s after their signals cleared, signals of a stream
#: correlated within 20 s and reported every 2 s. Names the worker's Settings lack are
#: left out.
DEMO_WORKER_SETTINGS: Mapping[str, str] = {
    "quality_window": "100",
    "quality_min_windows": "8",
    "alert_quiet_period_s": "5",
    "alert_group_wait_s": "2",
    "alert_correlation_window_s": "20",
    "alert_signal_report_s": "2",
    "session_timeout_s": "6",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard demo``."""
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    parser.add_argument("--rate", type=float, default=300.0, help="events per second")
    parser.add_argument(
        "--scenario",
        choices=("demo", "none"),
        default="demo",
        help="demo: healthy, fault burst, semantic drift, recovery (60 s); none: steady",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=None,
        help="share of records with a fault (none: 0.15; demo: its healthy phases, 0.02)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between summaries")


def demo_worker_env(
    environ: Mapping[str, str], fields: Mapping[str, object] = Settings.model_fields
) -> dict[str, str]:
    """The demo's worker settings as environment variables: only names ``fields`` has,
    and never over one the user set.

    >>> env = demo_worker_env({"STREAMGUARD_QUALITY_WINDOW": "50"})
    >>> env["STREAMGUARD_ALERT_QUIET_PERIOD_S"], "STREAMGUARD_QUALITY_WINDOW" in env
    ('5', False)
    >>> demo_worker_env({}, fields={"quality_window": None})
    {'STREAMGUARD_QUALITY_WINDOW': '100'}
    """
    out = {}
    for name, value in DEMO_WORKER_SETTINGS.items():
        variable = f"STREAMGUARD_{name.upper()}"
        if name in fields and variable not in environ:
            out[variable] = value
    return out


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


def _scenario(args: argparse.Namespace) -> Scenario | None:
    """The scripted scenario, or None for ``--scenario none`` (steady generator)."""
    from streamguard.sources.scenario import demo_scenario

    if args.scenario == "none":
        return None
    return demo_scenario(0.02 if args.fault_rate is None else args.fault_rate)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo; 0 after a clean stop, 1 if the worker failed."""
    from streamguard.console.server import ConsoleServer, start_console
    from streamguard.devtools import lifeline
    from streamguard.devtools.broker import EmbeddedBroker
    from streamguard.devtools.webhook_sink import WebhookSink
    from streamguard.kafka.tail import TopicTail
    from streamguard.sources.fault_kinds import FaultMix
    from streamguard.sources.output import produce
    from streamguard.sources.scenario import ScenarioSource
    from streamguard.sources.synthetic import generate

    scenario = _scenario(args)
    port = settings.metrics_port if _port_free(settings.metrics_port) else free_port()
    state_dir = Path(tempfile.mkdtemp(prefix="streamguard-demo-"))
    stop = threading.Event()
    produced = 0
    view = DemoView()
    started = time.monotonic()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    broker = EmbeddedBroker().start()
    worker: subprocess.Popen[bytes] | None = None
    sink: WebhookSink | None = None
    tail: TopicTail | None = None
    console: ConsoleServer | None = None
    try:
        env = {
            **os.environ,
            **demo_worker_env(os.environ),
            "STREAMGUARD_BROKER": broker.url,
            "STREAMGUARD_METRICS_PORT": str(port),
            "STREAMGUARD_DATA_DIR": str(state_dir),
        }
        if settings.webhook_url is None:  # alerts to our own receiver, signed
            secret = secrets.token_hex(16)
            sink = WebhookSink(secret).start()
            no_proxy = ",".join(filter(None, (os.environ.get("NO_PROXY"), "127.0.0.1")))
            env |= {
                "STREAMGUARD_WEBHOOK_URL": sink.url,
                "STREAMGUARD_WEBHOOK_SECRET": secret,
                "NO_PROXY": no_proxy,
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
        if scenario is None:
            print("worker ready; producing steady traffic")
        else:
            script = ", ".join(f"+{p.start_s:.0f}s {p.name}" for p in scenario.phases)
            print(f"worker ready; producing the scenario: {script}")
            if sink is not None:
                print(f"alerts go to a local webhook receiver ({sink.url}), signed and verified")
        started = time.monotonic()

        def _on_record(record: SourceRecord) -> None:
            value = orjson.loads(record.value) if record.value else None
            if not isinstance(value, dict):
                return
            if record.topic == settings.topic_findings:
                view.on_finding(value, time.monotonic() - started)
            else:
                view.on_recommendation(value)

        topics = [settings.topic_findings, settings.topic_recommendations]
        tail = TopicTail(broker.bootstrap, topics, _on_record).start()
        console = start_console(settings, broker.bootstrap)
        print(f"console (read-only, StreamGuard's topics): {console.url}", flush=True)

        # Event time follows the wall clock, so timeliness reads what a live feed would.
        now_ms, gap = int(time.time() * 1000), 1000.0 / max(args.rate, 1e-3)

        def records() -> Iterator[GeneratedRecord]:
            nonlocal produced
            if scenario is None:
                faults = FaultMix.uniform(
                    0.15 if args.fault_rate is None else args.fault_rate, "both"
                )
                source: Iterator[GeneratedRecord] = generate(
                    "both", None, seed=args.seed, faults=faults, start=now_ms, mean_gap_ms=gap
                )
            else:
                source = iter(
                    ScenarioSource(
                        scenario,
                        seed=args.seed,
                        elapsed=lambda: time.monotonic() - started,
                        start_ms=now_ms,
                        mean_gap_ms=gap,
                    )
                )
            for record in source:
                if stop.is_set():
                    return
                produced += 1
                yield record

        routes = {"behavior": settings.topic_behavior, "product": settings.topic_product}
        producer = threading.Thread(
            target=lambda: asyncio.run(
                produce(
                    records(), broker.bootstrap, routes, rate=args.rate, progress_interval_s=1e9
                )
            ),
            name="demo-producer",
            daemon=True,
        )
        producer.start()

        def _notifications() -> None:
            if sink is not None:
                for at, body in sink.drain():
                    view.on_notification(body, at - started)

        last_at = started
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
                _notifications()
                phase = ""
                if scenario is not None:
                    current = scenario.phase_at(now - started)
                    phase = f" {current.name}: {current.description}"
                print(f"[+{now - started:.0f}s]{phase}")
                print(format_summary(snapshot, last, now - last_at, produced))
                print("\n".join(view.lines(now - started)), flush=True)
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
        _notifications()
        print("final:")
        print(format_summary(snapshot, None, time.monotonic() - started, produced))
        print("\n".join(view.lines(time.monotonic() - started)))
        timeline = view.timeline()
        if timeline:
            print("incident timeline (from the webhook notifications):")
            print("\n".join(timeline))
        return 0
    finally:
        if console is not None:
            console.stop()
        if tail is not None:
            tail.stop()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        if sink is not None:
            sink.stop()
        broker.stop()
