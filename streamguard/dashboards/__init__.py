"""Grafana dashboards as code: a table of panels (:mod:`.catalogue`) rendered to JSON.

``python -m streamguard.dashboards`` regenerates grafana/dashboards/*.json and
grafana/README.md; ``--check`` only compares. Rendering needs the development extra
(grafana-foundation-sdk); reading the table does not.
"""

from streamguard.dashboards.catalogue import DASHBOARDS
from streamguard.dashboards.spec import (
    GRAFANA_DEFAULTS,
    Annotation,
    Dashboard,
    Panel,
    Query,
    Row,
    Variable,
    metric_family,
)

__all__ = [
    "DASHBOARDS",
    "GRAFANA_DEFAULTS",
    "Annotation",
    "Dashboard",
    "Panel",
    "Query",
    "Row",
    "Variable",
    "metric_family",
]
