"""The Prometheus registry type, for modules outside observability that are handed one.

Only :mod:`streamguard.observability` imports ``prometheus_client``; a module that takes
or makes a registry (to pass on to the metrics classes here) imports it from this one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

__all__ = ["CollectorRegistry"]
