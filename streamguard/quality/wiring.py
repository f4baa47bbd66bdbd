"""Build the worker's quality scorers from :class:`~streamguard.config.Settings`."""

from __future__ import annotations

from typing import Any

from streamguard.config import Settings
from streamguard.quality.scorer import QualityScorer

__all__ = ["build_scorers"]


def build_scorers(
    settings: Settings, *, catalogue: Any = None, **overrides: Any
) -> dict[str, QualityScorer]:
    """One scorer per stream, configured from ``settings`` (the worker's wiring).

    ``catalogue`` (``.get(product_id)``) enables consistency on the behaviour stream;
    ``overrides`` go to every :class:`QualityScorer` (``weights``, ``clock``, ...).

    >>> from streamguard.config import Settings
    >>> scorers = build_scorers(Settings(quality_window=50), catalogue={}, max_window_s=2)
    >>> sorted(scorers), scorers["behavior"].window, scorers["product"].max_window_s
    (['behavior', 'product'], 50, 2)
    >>> scorers["product"].catalogue is None
    True
    """
    common: dict[str, Any] = {
        "late_after_s": settings.quality_late_after_s,
        "window": settings.quality_window,
        "detector_min_windows": settings.quality_min_windows,
        **overrides,
    }
    return {
        "behavior": QualityScorer("behavior", catalogue=catalogue, **common),
        "product": QualityScorer("product", **common),
    }
