"""The dashboards as code: committed JSON is what the generator makes, and every panel is
a well-formed Prometheus panel over metrics StreamGuard defines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from streamguard.dashboards import DASHBOARDS, GRAFANA_DEFAULTS, Query, metric_family
from streamguard.dashboards.__main__ import expected_files, main
from streamguard.dashboards.render import DATASOURCE_UID, DATASOURCE_VARIABLE, render
from streamguard.observability.alerts import AlertMetrics
from streamguard.observability.detector_state import DetectorStateMetrics
from streamguard.observability.drift import DriftMetrics
from streamguard.observability.inventory import InventoryMetrics
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.observability.recommender import RecommenderMetrics, RecommenderProcessMetrics

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "grafana"


def committed(uid: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / "dashboards" / f"{uid}.json").read_text())
    return loaded


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in model["panels"] if p["type"] != "row"]


def test_committed_files_are_what_the_generator_makes() -> None:
    for path, content in expected_files(GRAFANA).items():
        assert path.exists(), f"{path} missing: run python -m streamguard.dashboards"
        assert path.read_text(encoding="utf-8") == content, (
            f"{path.relative_to(REPO)} is stale: run python -m streamguard.dashboards"
        )
    on_disk = {p.name for p in (GRAFANA / "dashboards").glob("*.json")}
    assert on_disk == {f"{board.uid}.json" for board in DASHBOARDS}, "stray dashboard files"


def test_check_mode_reports_stale_files_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert not any(tmp_path.iterdir())
    assert "stale:" in capsys.readouterr().out
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    stale = tmp_path / "dashboards" / f"{DASHBOARDS[0].uid}.json"
    stale.write_text("{}\n")
    assert main(["--out", str(tmp_path), "--check"]) == 1


def test_the_five_dashboards_exist_with_unique_uids() -> None:
    titles = {board.title.removeprefix("StreamGuard / ") for board in DASHBOARDS}
    assert titles == {"Overview", "Stream detail", "Drift", "Recommender", "Worker"}
    assert len({board.uid for board in DASHBOARDS}) == len(DASHBOARDS)


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda b: b.uid)
def test_every_panel_has_a_promql_target_on_the_chosen_datasource(board: Any) -> None:
    model = committed(board.uid)
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(model):
        assert panel.get("description"), f"{panel['title']}: no question"
        assert panel["datasource"]["uid"] == f"${{{DATASOURCE_VARIABLE}}}"
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no target"
        ref_ids = [t["refId"] for t in targets]
        assert all(ref_ids) and len(set(ref_ids)) == len(ref_ids)
        for target in targets:
            assert target["datasource"] == panel["datasource"]
            assert re.search(r"\bstreamguard_\w+", target["expr"]), target["expr"]
            # Balanced brackets: a cheap guard; Prometheus parses them in the integration test.
            for open_, close in ("()", "[]", "{}"):
                assert target["expr"].count(open_) == target["expr"].count(close), target


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda b: b.uid)
def test_template_variables_stream_and_field(board: Any) -> None:
    variables = {v["name"]: v for v in committed(board.uid)["templating"]["list"]}
    # Which Prometheus: defaults to the provisioned datasource.
    datasource = variables.pop(DATASOURCE_VARIABLE)
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    assert datasource["current"]["value"] == DATASOURCE_UID
    # The recommender learns from the clean behaviour stream only: nothing to filter.
    if not board.title.endswith("Recommender"):
        assert "stream" in variables
    if board.title.endswith(("Stream detail", "Drift")):
        assert "field" in variables
    for name, variable in variables.items():
        assert variable["type"] == "query"
        assert re.fullmatch(rf"label_values\((streamguard_\w+, )?{name}\)", variable["query"])
        assert variable["includeAll"] and variable["multi"] and variable["allValue"] == ".*"
    # A variable the dashboard defines is one its queries use, and vice versa.
    used = {m for q in board.queries() for m in re.findall(r"\$(\w+)", q.expr)}
    assert {v for v in used if not v.startswith("__")} <= set(variables)


def test_every_query_has_values_for_its_variables() -> None:
    for board in DASHBOARDS:
        for query in board.queries():
            concrete = query.concrete()
            assert "$" not in concrete, concrete


def test_concrete_rejects_an_unknown_variable() -> None:
    with pytest.raises(KeyError, match=r"\$tenant"):
        Query('up{tenant="$tenant"}').concrete(GRAFANA_DEFAULTS)


def declared_metrics() -> dict[str, frozenset[str]]:
    """Sample name -> label names, for every metric family StreamGuard's packages define.

    All in one registry, so two packages claiming one name fail here too.
    """
    registry = CollectorRegistry()
    holders = [
        WorkerMetrics(registry),
        QualityMetrics(registry),
        DriftMetrics(registry),
        AlertMetrics(registry),
        RecommenderMetrics(registry),
        RecommenderProcessMetrics(registry),
        DetectorStateMetrics(registry),
        InventoryMetrics(registry),
    ]
    declared = {}
    for holder in holders:
        for metric in vars(holder).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            # prometheus_client keeps name, type and label names in private attributes.
            name, kind = metric._name, metric._type  # noqa: SLF001
            labels = frozenset(metric._labelnames)  # noqa: SLF001
            if kind == "counter":
                declared[f"{name}_total"] = labels
            elif kind == "histogram":
                declared[f"{name}_bucket"] = labels | {"le"}
                declared[f"{name}_sum"] = declared[f"{name}_count"] = labels
            else:
                declared[name] = labels
    return declared


DECLARED = declared_metrics()
#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"instance", "job"})


def test_every_dashboard_metric_is_declared_by_streamguard() -> None:
    assert "streamguard_records_in_total" in DECLARED and len(DECLARED) >= 40
    unknown = {m for board in DASHBOARDS for m in board.metrics()} - DECLARED.keys()
    assert not unknown, f"dashboards read metrics nothing declares: {sorted(unknown)}"


def test_every_label_a_query_uses_exists_on_its_metrics() -> None:
    checked = 0
    for board in DASHBOARDS:
        for query in board.queries():
            # Matchers attached to a metric name: metric{label="..", label=~".."}.
            for metric, matchers in re.findall(r"(streamguard_\w+)\{([^}]*)\}", query.expr):
                used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
                assert used <= DECLARED[metric], (board.uid, query.expr, used - DECLARED[metric])
                checked += 1
            # Grouping and matching labels come from one of the query's metrics.
            available = set(TARGET_LABELS).union(*(DECLARED[m] for m in query.metrics()))
            for clause in re.findall(r"\b(?:by|on|ignoring)\s*\(([^)]*)\)", query.expr):
                grouped = {label.strip() for label in clause.split(",") if label.strip()}
                assert grouped <= available, (board.uid, query.expr, grouped - available)
    assert checked >= 30


def test_every_declared_metric_is_on_a_dashboard() -> None:
    used = {metric_family(m) for board in DASHBOARDS for m in board.metrics()}
    families = {metric_family(name) for name in DECLARED}
    assert not families - used, f"on no panel: {sorted(families - used)}"


def test_render_is_deterministic_and_orders_panels_as_declared() -> None:
    for board in DASHBOARDS:
        model = render(board)
        assert model == render(board)
        titles = [p["title"] for p in model["panels"]]
        assert titles == [item.title for item in board.items]


def test_provisioning_points_at_the_generated_dashboards() -> None:
    provisioning = GRAFANA / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "streamguard.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    # docker-compose mounts grafana/dashboards at this path (checked in the deploy tests).
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/streamguard"


def test_threshold_colours_run_from_good_to_bad_the_declared_way() -> None:
    checked = 0
    for board in DASHBOARDS:
        by_title = {p["title"]: p for p in panels(committed(board.uid))}
        for panel in board.panels():
            if not panel.thresholds:
                continue
            steps = by_title[panel.title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert [s["value"] for s in steps] == [None, *panel.thresholds]
            # Low values first: red when high is good (scores), green otherwise (error rates).
            low, high = ("red", "green") if panel.thresholds_good_high else ("green", "red")
            assert (steps[0]["color"], steps[-1]["color"]) == (low, high), panel.title
            checked += 1
    assert checked >= 4
