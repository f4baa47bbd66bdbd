"""Prometheus metrics of the detectors' state files: restores at start, periodic saves.

Labels are bounded: ``stream`` (two values), ``detector`` (drift, quality) and
``result`` from a fixed set (see :class:`~streamguard.runtime.detector_state.Restored`).

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> from streamguard.runtime.detector_state import Restored
>>> m = DetectorStateMetrics(CollectorRegistry())
>>> m.observe_restore(Restored("drift", "product", "code", "changed", 1200))
>>> m.registry.get_sample_value("streamguard_detector_state_restores_total",
...     {"stream": "product", "detector": "drift", "result": "code"})
1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

if TYPE_CHECKING:
    from streamguard.runtime.detector_state import Restored, Written

__all__ = ["DetectorStateMetrics"]


class DetectorStateMetrics:
    """The state files' metric families, in the given registry (the worker's)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.restores = Counter(
            "streamguard_detector_state_restores_total",
            "Detector state files at start-up, by result: restored, missing (first start) "
            "or why one was set aside and the detector started fresh (corrupt, version, "
            "config, code, unreadable, error).",
            ["stream", "detector", "result"],
            registry=r,
        )
        self.saves = Counter(
            "streamguard_detector_state_saves_total",
            "Detector state files written (result=ok) or not (result=error).",
            ["stream", "detector", "result"],
            registry=r,
        )
        self.bytes = Gauge(
            "streamguard_detector_state_bytes",
            "Size of the detector's state file last written or restored.",
            ["stream", "detector"],
            registry=r,
        )
        self.capture_seconds = Gauge(
            "streamguard_detector_state_capture_seconds",
            "Event-loop time of the last snapshot of every detector (pickling; sealing "
            "and writing run in a thread).",
            registry=r,
        )
        self.last_save = Gauge(
            "streamguard_detector_state_last_save_timestamp_seconds",
            "When the detectors' state was last written in full.",
            registry=r,
        )

    def observe_restore(self, restored: Restored) -> None:
        """Count one detector's restore at start-up."""
        self.restores.labels(restored.stream, restored.detector, restored.result).inc()
        if restored.result == "restored":
            self.bytes.labels(restored.stream, restored.detector).set(restored.size)

    def observe_save(self, written: list[Written], capture_seconds: float, now: float) -> None:
        """Count one round of saves (``now``: seconds since the epoch)."""
        self.capture_seconds.set(capture_seconds)
        for item in written:
            result = "ok" if item.error is None else "error"
            self.saves.labels(item.stream, item.detector, result).inc()
            if item.error is None:
                self.bytes.labels(item.stream, item.detector).set(item.size)
        if written and all(item.error is None for item in written):
            self.last_save.set(now)
