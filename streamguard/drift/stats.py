"""What a :class:`~streamguard.drift.engine.DriftEngine` measured between two drains
(:meth:`~streamguard.drift.engine.DriftEngine.drain_stats`): the metrics exporter's input."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineStats"]


@dataclass(frozen=True, slots=True)
class EngineStats:
    """What one engine measured since the previous :meth:`DriftEngine.drain_stats`.

    ``anomaly_scores``: the clean records' scores; ``findings``: findings emitted, by
    ``(kind, field)``; ``drift``: ``(field, detector, statistic, threshold)`` of every
    drift detector (``detector`` is ``semantic``: its latest block; ``contamination``: the
    stray-rate CUSUM and its bound; ``language``: the latest block's rise of its leading
    language and its threshold; ``gradual``: the far-repeat CUSUM and its bound; or
    ``schema``: the
    field's largest change in the blocks compared since the previous drain).
    """

    stream: str
    anomaly_scores: list[float]
    findings: dict[tuple[str, str | None], int]
    drift: list[tuple[str, str, float, float]]
