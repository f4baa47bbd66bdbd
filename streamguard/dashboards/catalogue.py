"""The dashboard table: every StreamGuard dashboard, in the order Grafana lists them.

Each dashboard is a module of :mod:`streamguard.dashboards.boards`, panel by panel, with
its PromQL and the on-call question each panel answers (shown as the panel's description
in Grafana and in grafana/README.md); the shared PromQL fragments and panel helpers are
in :mod:`streamguard.dashboards.boards.common`. Edit there, then regenerate the JSON:
``python -m streamguard.dashboards`` (a test fails while the committed JSON is stale).
"""

from __future__ import annotations

from streamguard.dashboards.boards import DRIFT, OVERVIEW, RECOMMENDER, STREAM, WORKER
from streamguard.dashboards.spec import Dashboard

__all__ = ["DASHBOARDS", "DRIFT", "OVERVIEW", "RECOMMENDER", "STREAM", "WORKER"]

#: Every dashboard, in the order Grafana lists them.
DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, STREAM, DRIFT, RECOMMENDER, WORKER)
