"""The dashboards, one module each; :mod:`streamguard.dashboards.catalogue` lists them."""

from streamguard.dashboards.boards.drift import DRIFT
from streamguard.dashboards.boards.overview import OVERVIEW
from streamguard.dashboards.boards.recommender import RECOMMENDER
from streamguard.dashboards.boards.stream import STREAM
from streamguard.dashboards.boards.worker import WORKER

__all__ = ["DRIFT", "OVERVIEW", "RECOMMENDER", "STREAM", "WORKER"]
