"""Every dashboard query against a real Prometheus scraping a real worker.

Two workers run on the embedded broker in one consumer group with generated traffic
(every fault kind); a Prometheus server (the Debian package) scrapes their /metrics every
second. Then every PromQL expression of every dashboard goes through Prometheus' HTTP API:
it must parse, and wherever the series it selects exist, it must return data. Every
metric the dashboards read must be in /metrics, and every metric there on a panel. The
metrics that must have samples after the traffic are named explicitly below, so this
cannot pass on nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamguard.dashboards import DASHBOARDS, Query
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    free_port,
    produce,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RECORDS = 600

#: What the workers must have samples of after the traffic: the pipeline's metrics
#: (streamguard/observability/metrics.py) and the unlabelled families that prove the drift
#: engine and the recommender are wired in. Written out, not derived, so an empty /metrics cannot
#: make the test vacuous.
CORE_SAMPLES = frozenset(
    {
        "streamguard_embedder_texts_total",
        "streamguard_embedder_batch_texts_bucket",
        "streamguard_embedding_cache_hits_total",
        "streamguard_embedder_sampling_ratio",
        "streamguard_recommender_updates_total",
        "streamguard_recommendations_published_total",
        "streamguard_recommendation_staleness_seconds_bucket",
        "streamguard_recommender_pending_users",
        "streamguard_records_in_total",
        "streamguard_records_out_total",
        "streamguard_quarantine_reasons_total",
        "streamguard_corrections_total",
        "streamguard_batch_processing_seconds_bucket",
        "streamguard_batch_records_count",
        "streamguard_record_latency_seconds_bucket",
        "streamguard_consumer_lag_records",
        "streamguard_worker_ready",
        "streamguard_catalogue_products",
        "streamguard_gc_collections_total",
        "streamguard_gc_pause_seconds_total",
    }
)

#: Metric families the worker exports that no dashboard needs, and why.
NOT_ON_DASHBOARDS: dict[str, str] = {}


@dataclass
class Exposition:
    """What the worker's /metrics declares, and which sample names carry samples."""

    families: dict[str, set[str]]  # family name -> every sample name it can have
    with_samples: set[str]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        families: dict[str, set[str]] = {}
        with_samples: set[str] = set()
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        for family in text_string_to_metric_families(text):
            # (prometheus_client's *_created series parse as families of their own.)
            if not family.name.startswith("streamguard_") or family.name.endswith("_created"):
                continue
            names = {family.name + s for s in suffixes.get(family.type, ("",))}
            families[family.name] = names
            with_samples |= {s.name for s in family.samples} & names
        return cls(families, with_samples)

    @property
    def declared(self) -> set[str]:
        return set().union(*self.families.values())


@dataclass
class PrometheusServer:
    """A real Prometheus on a free loopback port, started and stopped by PID."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, workdir: Path, *targets: str) -> PrometheusServer:
        config = workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: streamguard\n"
            f"    static_configs: [{{targets: {list(targets)}}}]\n"
        )
        port = free_port()
        log_path = workdir / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - the system's Prometheus binary
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(port, process, log_path)
        wait_until(server.ready, 30, "Prometheus to become ready")
        return server

    def _get(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        query = urllib.parse.urlencode(params)
        url = f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                return int(response.status), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(  # noqa: S310 - loopback
                f"http://127.0.0.1:{self.port}/-/ready", timeout=2
            ) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result; raises with Prometheus' error if it fails to parse."""
        status, body = self._get("/api/v1/query", query=expr)
        if status != 200 or body.get("status") != "success":
            raise AssertionError(f"{expr!r}: HTTP {status}: {body.get('error', body)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def label_values(self, label: str, metric: str | None) -> list[str]:
        """Values of ``label`` (on series of ``metric``): what a Grafana variable lists."""
        match = {"match[]": metric} if metric else {}
        status, body = self._get(f"/api/v1/label/{label}/values", **match)
        assert status == 200, body
        values: list[str] = body["data"]
        return values

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Observed:
    """The running stack, and each distinct (/readyz status, body, /healthz status) seen
    from the worker's start until it was ready."""

    workers: list[WorkerProcess]
    prometheus: PrometheusServer
    readiness: list[tuple[int, str, int]]

    def exposition(self) -> Exposition:
        """What the workers' /metrics declare, together."""
        return Exposition.parse("\n".join(w.metrics_text() for w in self.workers))


def _http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(  # noqa: S310 - loopback
            f"http://127.0.0.1:{port}{path}", timeout=2
        ) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, ""


@pytest.fixture(scope="module")
def stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """Two workers in one consumer group (as in deploy/), traffic processed, and a
    Prometheus that has scraped both."""
    if not Path(PROMETHEUS).exists():
        pytest.skip(f"Prometheus not installed at {PROMETHEUS} (make install adds it)")
    tmp = tmp_path_factory.mktemp("dashboards")
    topics = Topics.unique()
    ports = [free_port(), free_port()]
    env = worker_env(broker.bootstrap, topics, tmp / "state-0", ports[0])
    workers = [
        WorkerProcess(
            env
            | {"STREAMGUARD_METRICS_PORT": str(port), "STREAMGUARD_DATA_DIR": str(tmp / f"s{i}")},
            tmp / f"worker-{i}.log",
            port,
        )
        for i, port in enumerate(ports)
    ]
    prometheus: PrometheusServer | None = None
    try:
        first = workers[0].start()
        prometheus = PrometheusServer.start(tmp, *(f"127.0.0.1:{port}" for port in ports))
        # Every distinct answer of /readyz (and /healthz alongside) until it says ready.
        answers: list[tuple[int, str, int]] = []

        def ready() -> bool:
            first.check_alive()
            status, body = _http(first.metrics_port, "/readyz")
            if status and (not answers or answers[-1][:2] != (status, body)):
                answers.append((status, body, _http(first.metrics_port, "/healthz")[0]))
            return status == 200

        wait_until(ready, 60, "the first worker to become ready")
        # The second worker joins the group: Kafka splits the partitions between them.
        workers[1].start().wait_ready()
        first.wait_ready()
        records = generate(
            "both", RECORDS, seed=5, faults=FaultMix.uniform(0.4, "both"), product_share=0.25
        )
        placed = asyncio.run(produce(broker.bootstrap, topics, records))
        assert len(placed) == RECORDS
        server = prometheus

        def all_scraped() -> bool:
            for worker in workers:
                worker.check_alive()
            result = server.query("sum(streamguard_records_in_total)")
            return bool(result) and float(result[0]["value"][1]) >= RECORDS

        wait_until(all_scraped, 60, "Prometheus to scrape every record's metrics")
        yield Observed(workers, prometheus, answers)
    finally:
        if prometheus is not None:
            prometheus.stop()
        # SIGTERM both first, then wait: they shut down in parallel.
        running = [w.process for w in workers if w.process and w.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _all_queries() -> list[tuple[str, str, Query]]:
    return [
        (board.uid, title, query)
        for board in DASHBOARDS
        for title, query in [(p.title, q) for p in board.panels() for q in p.queries]
        + [(f"annotation {a.name}", a.query) for a in board.annotations]
    ]


def test_readiness_waits_for_partitions_and_liveness_does_not(stack: Observed) -> None:
    # Alive but not ready until Faust had partitions and tables; /readyz said why.
    *before, (final_status, _, _) = stack.readiness
    assert final_status == 200
    assert before, "the worker was ready on its first answer: readiness checks nothing"
    assert all(status == 503 and health == 200 for status, _, health in before), before
    assert any("assigned waiting" in body for _, body, _ in before), before
    # Now every declared condition holds, and Prometheus sees the ready gauge at 1.
    status, body = _http(stack.workers[0].metrics_port, "/readyz")
    assert status == 200, body
    conditions = dict(line.split(" ", 1) for line in body.splitlines())
    assert conditions and set(conditions.values()) == {"ok"}, body
    assert "assigned" in conditions
    result = stack.prometheus.query("streamguard_worker_ready")
    assert [float(series["value"][1]) for series in result] == [1.0, 1.0]


def test_two_workers_in_one_group_share_the_stream(stack: Observed) -> None:
    # What deploy/ runs: both workers got partitions and processed records, and the
    # dashboards' sums over instances account for everything produced (at least once:
    # a late rebalance may redeliver a few).
    per_worker = stack.prometheus.query("sum by (instance) (streamguard_records_in_total)")
    counts = [float(series["value"][1]) for series in per_worker]
    assert len(counts) == 2 and all(count > 0 for count in counts), per_worker
    assert sum(counts) >= RECORDS
    (ready,) = stack.prometheus.query("sum(streamguard_worker_ready)")
    assert float(ready["value"][1]) == 2


def test_every_dashboard_query_parses_and_returns_data(
    stack: Observed, record_property: Any
) -> None:
    exposition = stack.exposition()
    missing_core = CORE_SAMPLES - exposition.with_samples
    assert not missing_core, f"the worker stopped exporting {sorted(missing_core)}"

    queries = _all_queries()
    # Every expression parses (Prometheus answers 400 bad_data otherwise).
    for _, _, query in queries:
        stack.prometheus.query(query.concrete())

    # A panel must show data whenever the series it selects exist. Series the worker does
    # not export (yet), or label values it has not reached (no semantic-drift block after
    # a few hundred records), excuse a query; annotations mark events, so "nothing in the
    # last minute" is a fair answer for them.
    def selects_existing_series(query: Query) -> bool:
        return all(
            stack.prometheus.query(selector)
            for selector in re.findall(r"streamguard_\w+(?:\{[^}]*\})?", query.concrete())
        )

    need_data = [
        q for q in queries if not q[1].startswith("annotation ") and selects_existing_series(q[2])
    ]
    excused = [f"{uid} / {title}" for uid, title, q in queries if (uid, title, q) not in need_data]
    record_property("queries_without_their_series", "; ".join(excused))
    # The core metrics alone feed many panels: the data check covers all of them.
    core_panels = {q[1] for q in queries if set(q[2].metrics()) <= CORE_SAMPLES}
    assert core_panels <= {q[1] for q in need_data}, core_panels - {q[1] for q in need_data}
    assert len(core_panels) >= 10

    # Rates need two scrapes of a series: poll until all answer, then report the rest.
    empty: list[str] = []

    def all_answer() -> bool:
        empty[:] = [
            f"{uid} / {title}: {query.concrete()}"
            for uid, title, query in need_data
            if not stack.prometheus.query(query.concrete())
        ]
        return not empty

    try:
        wait_until(all_answer, 20, "every dashboard query to return data")
    except TimeoutError:
        pytest.fail("queries without data:\n" + "\n".join(empty))


def test_every_dashboard_metric_exists_in_metrics(stack: Observed) -> None:
    exposition = stack.exposition()
    used = {m for board in DASHBOARDS for m in board.metrics()}
    assert CORE_SAMPLES <= used
    missing = used - exposition.declared
    assert not missing, f"dashboards read metrics the worker does not export: {sorted(missing)}"


def test_every_exported_metric_is_on_a_dashboard(stack: Observed) -> None:
    exposition = stack.exposition()
    assert {"streamguard_records_in", "streamguard_worker_ready"} <= exposition.families.keys()
    used = {m for board in DASHBOARDS for m in board.metrics()}
    uncovered = {
        family
        for family, names in exposition.families.items()
        if family not in NOT_ON_DASHBOARDS and not names & used
    }
    assert not uncovered, f"exported but on no panel: {sorted(uncovered)}"


def test_template_variables_list_values(stack: Observed) -> None:
    exposition = stack.exposition()
    for board in DASHBOARDS:
        for variable in board.variables:
            if variable.metric is not None and variable.metric not in exposition.with_samples:
                continue
            values = stack.prometheus.label_values(variable.name, variable.metric)
            assert values, f"{board.uid}: ${variable.name} would list nothing"
    streams = stack.prometheus.label_values("stream", "streamguard_records_in_total")
    assert set(streams) == {"behavior", "product"}
