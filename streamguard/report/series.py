"""Drift statistics over record position, kept bounded for a report's plots.

A check run samples the drift engine's latest statistics every few records
(:meth:`DriftEngine.drain_stats`); :class:`DriftSeries` keeps, per ``(field, detector)``,
at most ``max_points`` samples by halving its resolution when full, so a run of any
length costs the same memory and the plot still spans the whole file.

>>> series = DriftSeries(max_points=4)
>>> for position in range(0, 1000, 100):
...     series.add(position, [("title", "semantic", position / 1000, 0.5)])
>>> curve = series.curves()["title · semantic"]
>>> len(curve) <= 4, curve[0], curve[-1][0] >= 800
(True, (0, 0.0, 0.5), True)

A finding belongs on the chart of the detector that raised it (:func:`detector_of`):

>>> detector_of({"kind": "semantic_drift", "details": {"statistic_name": "stray_rate"}})
'contamination'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["DETECTOR_OF_STATISTIC", "DriftSeries", "Point", "detector_of"]

#: ``(record position, statistic, threshold)``.
Point = tuple[int, float, float]

#: The detector (``detector`` of :meth:`DriftSeries.add`) whose statistic a
#: ``semantic_drift`` finding's ``details["statistic_name"]`` names.
DETECTOR_OF_STATISTIC: Final[Mapping[str, str]] = {
    "out_of_support_share": "semantic",
    "new_value_share": "semantic",
    "stray_rate": "contamination",
    "language_share": "language",
    "far_repeat_rate": "gradual",
}


def detector_of(finding: Mapping[str, Any]) -> str | None:
    """The detector whose chart a finding (``Finding.as_dict()``) belongs on: ``schema``
    for schema drift; for semantic drift the detector its ``details["statistic_name"]``
    names (none named: the block detector's ``semantic``, whose rebaseline finding names
    none); ``None`` for anything else (an anomaly, a statistic no chart plots)."""
    kind = finding.get("kind")
    if kind == "schema_drift":
        return "schema"
    if kind != "semantic_drift":
        return None
    details = finding.get("details")
    name = details.get("statistic_name") if isinstance(details, Mapping) else None
    if name is None:
        return "semantic"
    return DETECTOR_OF_STATISTIC.get(str(name))


class DriftSeries:
    """Per ``(field, detector)``: the statistic and its threshold at sampled positions."""

    def __init__(self, max_points: int = 400) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2")
        self.max_points = max_points
        self._curves: dict[tuple[str, str], list[Point]] = {}
        self._stride: dict[tuple[str, str], int] = {}
        self._seen: dict[tuple[str, str], int] = {}

    def add(self, position: int, drift: Iterable[tuple[str, str, float, float]]) -> None:
        """Record ``(field, detector, statistic, threshold)`` rows measured at ``position``."""
        for field, detector, statistic, threshold in drift:
            key = (field, detector)
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            stride = self._stride.setdefault(key, 1)
            if seen % stride:
                continue
            curve = self._curves.setdefault(key, [])
            curve.append((position, float(statistic), float(threshold)))
            if len(curve) > self.max_points:
                # Full: keep every other point and sample half as often from now on.
                self._curves[key] = curve[::2]
                self._stride[key] = stride * 2

    def curves(self) -> dict[str, list[Point]]:
        """Curves by ``"field · detector"``, in the order they first appeared."""
        return {f"{field} · {detector}": list(c) for (field, detector), c in self._curves.items()}
