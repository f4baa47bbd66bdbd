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

from streamguard.dashboards import DASHBOARDS, GRAFANA_DEFAULTS, Query, metric_family
from streamguard.dashboards.__main__ import expected_files, main
from streamguard.dashboards.render import DATASOURCE_UID, render
from streamguard.metrics import WorkerMetrics

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
PACKAGE = REPO / "streamguard"


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
    assert titles >= {"Overview", "Stream detail", "Worker"}
    assert len({board.uid for board in DASHBOARDS}) == len(DASHBOARDS)


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda b: b.uid)
def test_every_panel_has_a_promql_target_on_the_provisioned_datasource(board: Any) -> None:
    model = committed(board.uid)
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(model):
        assert panel.get("description"), f"{panel['title']}: no question"
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no target"
        ref_ids = [t["refId"] for t in targets]
        assert all(ref_ids) and len(set(ref_ids)) == len(ref_ids)
        for target in targets:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert re.search(r"\bstreamguard_\w+", target["expr"]), target["expr"]
            # Balanced brackets: a cheap guard; Prometheus parses them in the integration test.
            for open_, close in ("()", "[]", "{}"):
                assert target["expr"].count(open_) == target["expr"].count(close), target


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda b: b.uid)
def test_template_variables_stream_and_field(board: Any) -> None:
    variables = {v["name"]: v for v in committed(board.uid)["templating"]["list"]}
    assert "stream" in variables
    if board.title.endswith(("Stream detail", "Drift")):
        assert "field" in variables
    for name, variable in variables.items():
        assert variable["type"] == "query"
        assert re.fullmatch(rf"label_values\(streamguard_\w+, {name}\)", variable["query"])
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


def _defined_in_package() -> set[str]:
    """Metric names written as literals anywhere in streamguard/ except the dashboards."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "dashboards" not in path.parts:
            names |= set(re.findall(r"[\"'](streamguard_[a-z0-9_]+)[\"']", path.read_text()))
    return names


def test_every_dashboard_metric_is_defined_by_streamguard() -> None:
    defined = _defined_in_package()
    assert "streamguard_records_in_total" in defined
    unknown = set()
    for board in DASHBOARDS:
        for sample in board.metrics():
            family = metric_family(sample)
            # Counters may be declared with or without the _total suffix.
            if not {sample, family, family.removesuffix("_total")} & defined:
                unknown.add(sample)
    assert not unknown, f"dashboards read metrics nothing defines: {sorted(unknown)}"


def test_every_worker_metric_is_on_a_dashboard() -> None:
    used = {metric_family(m) for board in DASHBOARDS for m in board.metrics()}
    families = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in WorkerMetrics().registry.collect()
    }
    assert len(families) >= 10
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
