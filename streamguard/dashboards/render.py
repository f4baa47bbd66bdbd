"""Render the dashboard table to Grafana JSON with grafana-foundation-sdk.

Output is deterministic (sorted keys, fixed ids and layout), so the committed JSON can be
compared with a fresh render. The SDK is a development dependency: a production install
of StreamGuard ships the JSON, not this module's import.

Examples
--------
>>> from streamguard.dashboards.catalogue import OVERVIEW
>>> model = render(OVERVIEW)
>>> model["uid"], [variable["name"] for variable in model["templating"]["list"]]
('streamguard-overview', ['datasource', 'stream'])
>>> model["panels"][1]["targets"][0]["refId"], model["panels"][1]["datasource"]["uid"]
('A', '${datasource}')
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prom_model

from streamguard.dashboards.spec import Dashboard, Panel, Row, Variable

__all__ = ["DATASOURCE_UID", "DATASOURCE_VARIABLE", "dashboard_json", "render"]

#: The uid the provisioned Prometheus datasource has (grafana/provisioning/datasources).
DATASOURCE_UID = "streamguard-prometheus"
#: Every panel reads the Prometheus chosen in this variable (default: the provisioned one),
#: so the dashboards also work in a Grafana whose Prometheus has another uid.
DATASOURCE_VARIABLE = "datasource"
_DATASOURCE = model.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
_REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# The SDK has one builder class per panel kind; they share the methods used here.
_PanelBuilder = (
    timeseries.Panel
    | stat.Panel
    | bargauge.Panel
    | table.Panel
    | heatmap.Panel
    | statetimeline.Panel
)


def _new_panel(panel: Panel) -> _PanelBuilder:
    if panel.kind == "timeseries":
        return timeseries.Panel().fill_opacity(10)
    if panel.kind == "stat":
        return stat.Panel()
    if panel.kind == "bargauge":
        return bargauge.Panel()
    if panel.kind == "table":
        return table.Panel()
    if panel.kind == "heatmap":
        return heatmap.Panel()
    return statetimeline.Panel()


def _thresholds(panel: Panel) -> builder.ThresholdsConfig:
    # From good to bad: green, (orange for each step in between,) red.
    colours = ["green", *["orange"] * (len(panel.thresholds) - 1), "red"]
    if panel.thresholds_good_high:
        colours.reverse()
    steps = [model.Threshold(value=None, color=colours[0])]
    steps += [
        model.Threshold(value=value, color=colours[i + 1])
        for i, value in enumerate(panel.thresholds)
    ]
    return builder.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def _panel(panel: Panel, panel_id: int) -> _PanelBuilder:
    built = (
        _new_panel(panel)
        .id(panel_id)
        .title(panel.title)
        .description(panel.question)
        .datasource(_DATASOURCE)
        .unit(panel.unit)
        .height(panel.height)
        .span(panel.width)
    )
    if panel.min is not None:
        built = built.min(panel.min)
    if panel.max is not None:
        built = built.max(panel.max)
    if panel.thresholds:
        built = built.thresholds(_thresholds(panel))
    for ref_id, query in zip(_REF_IDS, panel.queries, strict=False):
        target = (
            prometheus.Dataquery()
            .ref_id(ref_id)
            .datasource(_DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend or "__auto")
        )
        if query.instant:
            target = target.instant().format(prom_model.PromQueryFormat.TABLE)
        elif panel.kind == "heatmap":
            target = target.format(prom_model.PromQueryFormat.HEATMAP)
        built = built.with_target(target)
    return built


def _variable(variable: Variable) -> builder.QueryVariable:
    return (
        builder.QueryVariable(variable.name)
        .label(variable.label)
        .description(variable.description)
        .datasource(_DATASOURCE)
        .query(variable.query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model (a JSON-able dict) of ``dashboard``."""
    board = (
        builder.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .editable()
    )
    board = board.with_variable(
        builder.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Prometheus")
        .type("prometheus")
        .current(model.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
    )
    for variable in dashboard.variables:
        board = board.with_variable(_variable(variable))
    for annotation in dashboard.annotations:
        board = board.annotation(
            builder.AnnotationQuery()
            .name(annotation.name)
            .datasource(_DATASOURCE)
            .enable(True)
            .icon_color(annotation.color)
            .expr(annotation.query.expr)
        )
    panel_id = 1
    for item in dashboard.items:
        if isinstance(item, Row):
            board = board.with_row(builder.Row(item.title).id(panel_id))
        else:
            board = board.with_panel(_panel(item, panel_id))
        panel_id += 1
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    # Prometheus annotation fields the SDK's generic AnnotationQuery has no builder for.
    for annotation, entry in zip(
        dashboard.annotations, encoded.get("annotations", {}).get("list", []), strict=True
    ):
        entry.update(titleFormat=annotation.title, textFormat=annotation.query.legend, step="1m")
    return encoded


def dashboard_json(dashboard: Dashboard) -> str:
    """The file content for ``dashboard``: stable key order, trailing newline."""
    return json.dumps(render(dashboard), indent=2, sort_keys=True) + "\n"
