"""deploy/prometheus and deploy/alertmanager: promtool/amtool checks, rule unit tests, and
every metric name a rule uses exists in the worker's registries."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamguard.observability.alerts import AlertMetrics
from streamguard.observability.drift import DriftMetrics
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.observability.recommender import RecommenderMetrics, RecommenderProcessMetrics
from streamguard.runtime.ports import free_port
from tests.unit.alert_receiver import Receiver, wait_until

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
# Names in PromQL that are metrics of ours (recording rules have colons around them).
METRIC = re.compile(r"(?<![\w:])streamguard_\w+(?![\w:])")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)")
    return path


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_there_are_rules_and_tests() -> None:
    assert RULES and RULE_TESTS


def test_promtool_check_rules() -> None:
    output = run(tool("promtool"), "check", "rules", *map(str, RULES))
    assert "SUCCESS" in output


def test_promtool_test_rules() -> None:
    output = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert "SUCCESS" in output and "FAILED" not in output


def test_promtool_check_config() -> None:
    output = run(tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "SUCCESS" in output


def test_amtool_check_config() -> None:
    run(tool("amtool"), "check-config", str(ALERTMANAGER))


def _alert_rules() -> list[dict[str, object]]:
    rules = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += group["rules"]
    return rules


def test_every_alert_has_a_unit_test() -> None:
    alerts = {str(r["alert"]) for r in _alert_rules() if "alert" in r}
    tested = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    assert alerts == tested, f"alerts without a firing test: {sorted(alerts - tested)}"


def _exported_names() -> set[str]:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    QualityMetrics(registry)
    AlertMetrics(registry)
    DriftMetrics(registry)
    RecommenderMetrics(registry)
    RecommenderProcessMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_rules_use_only_metrics_the_worker_exports() -> None:
    exported = _exported_names()
    used = set()
    for rule in _alert_rules():
        used |= set(METRIC.findall(str(rule["expr"])))
    assert used, "no streamguard_ metric found in the rules"
    assert used <= exported, f"unknown metrics in rules: {sorted(used - exported)}"
    # The metrics the issue asks alerts on are among them.
    assert {
        "streamguard_quality_score",
        "streamguard_records_out_total",
        "streamguard_consumer_lag_records",
        "streamguard_alert_notifications_failed_total",
    } <= used


def test_prometheus_scrapes_the_job_the_rules_select() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "streamguard" in jobs
    assert any('job="streamguard"' in str(r["expr"]) for r in _alert_rules())
    receivers = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))["receivers"]
    assert any(r.get("webhook_configs") for r in receivers)


# --- the real servers: Prometheus evaluates the rules, Alertmanager routes the alert ------


def _serve(registry: CollectorRegistry) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def _fast_rules(tmp_path: Path) -> Path:
    """The real rules with every ``for`` cut to 0s, so a test need not wait minutes."""
    out = tmp_path / "rules"
    out.mkdir()
    for path in RULES:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in config["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "0s"
        (out / path.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    return out


def test_a_low_quality_score_reaches_a_webhook_through_prometheus_and_alertmanager(
    tmp_path: Path,
) -> None:
    prometheus, alertmanager = tool("prometheus"), tool("prometheus-alertmanager")
    registry = CollectorRegistry()
    quality = QualityMetrics(registry)
    # A ready worker: a not-ready one fires StreamGuardWorkerNotReady, which (rightly)
    # inhibits the quality alert this test waits for, and the race made it flaky.
    WorkerMetrics(registry).ready.set(1)
    quality.score.labels("behavior", "composite", "_all").set(0.42)
    quality.score.labels("product", "composite", "_all").set(0.97)
    metrics_server = _serve(registry)
    receiver = Receiver()
    prom_port, am_port = free_port(), free_port()

    # The shipped Alertmanager config, pointed at the test receiver and without waits.
    am_config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    for receiver_config in am_config["receivers"]:
        for hook in receiver_config.get("webhook_configs", []):
            hook["url"] = receiver.url("/alertmanager")
    am_config["route"]["group_wait"] = "0s"
    for route in am_config["route"].get("routes", []):
        route["group_wait"] = "0s"
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config), encoding="utf-8")
    # The shipped Prometheus config, scraping the test registry every second.
    prom_config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    prom_config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    prom_config["rule_files"] = [str(_fast_rules(tmp_path) / "*.yml")]
    prom_config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{am_port}"
    ]
    job = prom_config["scrape_configs"][0]
    job["scrape_interval"] = "1s"
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_server.server_address[1]}"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config), encoding="utf-8")

    log = (tmp_path / "servers.log").open("w")
    processes = [
        subprocess.Popen(
            [
                alertmanager,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:

        def low_quality_alerts() -> list[dict[str, Any]]:
            alerts = [a for body in receiver.bodies() for a in body["alerts"]]
            return [a for a in alerts if a["labels"]["alertname"] == "StreamGuardQualityScoreLow"]

        wait_until(lambda: bool(low_quality_alerts()), timeout_s=45)
        low = low_quality_alerts()
        # The product stream (0.97) stays quiet; the behaviour stream (0.42) pages.
        assert [a["labels"]["stream"] for a in low] == ["behavior"], low
        assert low[0]["status"] == "firing"
        assert low[0]["annotations"]["summary"] == "Data quality of behavior is 0.42 (< 0.8)"
    except AssertionError:
        log.flush()
        print((tmp_path / "servers.log").read_text())
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        log.close()
        metrics_server.shutdown()
        metrics_server.server_close()
        receiver.stop()
