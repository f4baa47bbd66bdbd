"""The vocabulary of the dashboard table: dashboards, rows, panels and their PromQL.

Pure data with no Grafana import, so tests and tools can read the table (every PromQL
expression, every metric it touches) without the Grafana SDK installed.

Examples
--------
>>> q = Query('sum(rate(streamguard_records_in_total{stream=~"$stream"}[$__rate_interval]))')
>>> q.metrics()
('streamguard_records_in_total',)
>>> q.concrete()
'sum(rate(streamguard_records_in_total{stream=~".*"}[1m]))'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "GRAFANA_DEFAULTS",
    "Annotation",
    "Dashboard",
    "Panel",
    "PanelKind",
    "Query",
    "Row",
    "Variable",
    "metric_family",
]

PanelKind = Literal["timeseries", "stat", "bargauge", "table", "heatmap", "state-timeline"]

_METRIC = re.compile(r"\bstreamguard_[a-z0-9_]+\b")
_VARIABLE = re.compile(r"\$(\w+)")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

#: What Grafana substitutes for its variables, as a test or a reader would: ``.*`` is the
#: "All" value of a multi-select, the intervals are typical of a 1-hour view.
GRAFANA_DEFAULTS: Mapping[str, str] = {
    "stream": ".*",
    "field": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def metric_family(sample_name: str) -> str:
    """The metric family a sample name belongs to (histogram series share one).

    >>> metric_family("streamguard_batch_records_bucket"), metric_family("streamguard_x_total")
    ('streamguard_batch_records', 'streamguard_x_total')
    """
    for suffix in _HISTOGRAM_SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel; ``legend`` is Grafana's legend format."""

    expr: str
    legend: str = ""
    instant: bool = False

    def metrics(self) -> tuple[str, ...]:
        """The StreamGuard sample names this expression reads, in order of appearance."""
        return tuple(dict.fromkeys(_METRIC.findall(self.expr)))

    def concrete(self, values: Mapping[str, str] = GRAFANA_DEFAULTS) -> str:
        """The expression with Grafana's variables replaced, ready for Prometheus' API.

        Raises ``KeyError`` naming a variable that ``values`` does not cover.
        """

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"no value for ${name} in {self.expr!r}")
            return values[name]

        return _VARIABLE.sub(substitute, self.expr)


@dataclass(frozen=True)
class Panel:
    """A panel: the on-call question it answers, how it shows, and its queries."""

    title: str
    question: str
    kind: PanelKind
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    thresholds: tuple[float, ...] = ()
    """Values where the colour turns from green to amber to red (ascending)."""
    thresholds_good_high: bool = False
    """True when high is good (scores): the colours run red, amber, green instead."""

    def metrics(self) -> tuple[str, ...]:
        """Every StreamGuard sample name the panel's queries read."""
        return tuple(dict.fromkeys(m for q in self.queries for m in q.metrics()))


@dataclass(frozen=True)
class Row:
    """A titled row that groups the panels after it."""

    title: str


@dataclass(frozen=True)
class Variable:
    """A template variable filled from a label's values (``label_values(metric, label)``)."""

    name: str
    label: str
    metric: str | None
    """The metric whose series list the values; None: every series with the label."""
    description: str

    @property
    def query(self) -> str:
        """Grafana's Prometheus variable query.

        >>> Variable("field", "Field", None, "").query
        'label_values(field)'
        """
        if self.metric is None:
            return f"label_values({self.name})"
        return f"label_values({self.metric}, {self.name})"


@dataclass(frozen=True)
class Annotation:
    """Events drawn over every time series of a dashboard (a PromQL expression)."""

    name: str
    query: Query
    title: str
    color: str = "red"


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: identity, template variables, annotations and the panel table."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    items: tuple[Panel | Row, ...]
    annotations: tuple[Annotation, ...] = ()
    tags: tuple[str, ...] = field(default=("streamguard",))

    def panels(self) -> Iterator[Panel]:
        """The panels, rows left out."""
        return (item for item in self.items if isinstance(item, Panel))

    def queries(self) -> Iterator[Query]:
        """Every PromQL query: panel targets and annotations."""
        for panel in self.panels():
            yield from panel.queries
        for annotation in self.annotations:
            yield annotation.query

    def metrics(self) -> tuple[str, ...]:
        """Every StreamGuard sample name the dashboard reads, variables included."""
        names = [m for q in self.queries() for m in q.metrics()]
        names += [v.metric for v in self.variables if v.metric is not None]
        return tuple(dict.fromkeys(names))
