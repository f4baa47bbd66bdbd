"""``streamguard demo`` end to end: it starts, summarises, drains and stops cleanly, and
its scripted scenario shows an incident opening and resolving, a drift finding and a
recommendation within the 60 s that ``make demo`` runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from streamguard.runtime.ports import free_port
from streamguard.testing.processes import descendant_pids, port_is_free, process_alive, wait_for
from streamguard.testing.worker_harness import REPO

pytestmark = pytest.mark.integration


def test_demo_runs_for_its_duration_and_checks_everything_it_produced() -> None:
    env = {"PATH": "/usr/bin:/bin", "STREAMGUARD_METRICS_PORT": str(free_port())}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            *(sys.executable, "-m", "streamguard.cli", "demo", "--scenario", "none"),
            *("--duration", "6", "--interval", "2"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    final = result.stdout.split("final:", 1)[1]
    match = re.search(r"produced (\d+) \| checked (\d+)", final)
    assert match is not None, result.stdout
    produced, checked = int(match.group(1)), int(match.group(2))
    assert produced > 0
    assert checked == produced
    assert "quarantine" in final and "top reasons" in final
    # The read-only console on the demo's broker, its URL printed.
    assert re.search(
        r"console \(read-only, StreamGuard's topics\): http://127\.0\.0\.1:\d+", result.stdout
    )


def test_make_demo_shows_an_incident_open_and_resolve_a_drift_and_a_recommendation() -> None:
    """What ``make demo`` runs (``streamguard demo --duration 60``), its output captured."""
    env = {"PATH": "/usr/bin:/bin", "STREAMGUARD_METRICS_PORT": str(free_port())}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streamguard.cli", "demo", "--duration", "60"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "producing the scenario: +0s healthy, +15s fault burst" in out
    # The summary carries each stream's quality score with its dimensions ...
    assert re.search(r"quality: behavior \d\.\d\d \(validity \d\.\d\d, completeness", out), out
    # ... the behaviour burst as one incident, with its signals, opening then resolving ...
    opened = re.search(r"incident FIRING +\+(\d+)s behavior \[\w+\]: (.+)", out)
    assert opened is not None, out
    assert "quality_drop on validity" in opened.group(2), opened.group(0)
    resolved = re.search(r"incident RESOLVED \+(\d+)s behavior after \d+s", out)
    assert resolved is not None, out
    assert 15 <= int(opened.group(1)) < int(resolved.group(1)) <= 60
    timeline = out.split("incident timeline", 1)[1]
    behaviour = [line.split()[1] for line in timeline.splitlines() if " behavior " in line]
    assert behaviour[:2] == ["FIRING", "RESOLVED"], timeline
    # ... the semantic drift on product descriptions ...
    assert re.search(r"drift: semantic_drift on product\.description \(\d", out), out
    # ... alerts actually sent, and recommendations with one example list.
    final = out.split("final:", 1)[1]
    sent = re.search(r"alerts sent: firing (\d+), resolved (\d+)", final)
    assert sent is not None and int(sent.group(1)) >= 1 and int(sent.group(2)) >= 1, final
    assert re.search(r"recommendations: \d+ lists? published, e\.g\. \S+ -> p\d+ \(", final)
    # Every record produced was checked; the run's webhook secret (32 hex) is never shown.
    match = re.search(r"produced (\d+) \| checked (\d+)", final)
    assert match is not None and match.group(1) == match.group(2), final
    assert re.search(r"\b[0-9a-f]{32}\b", out + result.stderr) is None


def test_sigkill_of_the_demo_leaves_no_broker_or_worker_behind() -> None:
    """``kill -9`` of ``streamguard demo`` (or ``make demo``) takes Tansu and the worker."""
    env = {"PATH": "/usr/bin:/bin", "STREAMGUARD_METRICS_PORT": str(free_port())}
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streamguard.cli", "demo"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as demo:
        assert demo.stdout is not None
        children: list[int] = []
        try:
            line = demo.stdout.readline()  # printed once the broker is up, before the worker
            match = re.match(r"broker kafka://127\.0\.0\.1:(\d+);", line)
            assert match is not None, f"unexpected first line {line!r}"
            broker_port = int(match.group(1))

            def broker_and_worker_started() -> bool:
                children[:] = descendant_pids(demo.pid)
                return len(children) >= 2  # tansu + the worker (and maybe its helpers)

            wait_for(broker_and_worker_started, 30, "the demo's broker and worker processes")
            assert demo.poll() is None, "the demo ended early"
        finally:
            demo.kill()
            demo.wait()
    try:
        wait_for(
            lambda: not any(map(process_alive, children)), 30, f"the demo's children {children}"
        )
        wait_for(lambda: port_is_free(broker_port), 10, f"port {broker_port} to be released")
    finally:
        for pid in children:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)  # an orphan this test found, by its PID
