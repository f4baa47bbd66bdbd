"""A distance in spreads (a z-score) mapped to an anomaly score in [0, 1).

The numeric, text and embedding models share it: 0 up to ``z_floor`` spreads, then
``1 - exp(-(z - z_floor) / z_scale)``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["z_to_score", "z_to_scores"]


def z_to_score(z: float, z_floor: float = 3.0, z_scale: float = 3.0) -> float:
    """Map a distance in spreads to [0, 1): 0 up to ``z_floor``, ~0.96 at ``floor + 3 scale``.

    >>> z_to_score(2.0), round(z_to_score(6.0), 3), round(z_to_score(30.0), 3)
    (0.0, 0.632, 1.0)
    """
    return 0.0 if z <= z_floor else 1.0 - math.exp(-(z - z_floor) / z_scale)


def z_to_scores(
    z: npt.NDArray[np.float64], z_floor: float = 3.0, z_scale: float = 3.0
) -> npt.NDArray[np.float64]:
    """:func:`z_to_score` of each element, in one numpy pass.

    >>> z_to_scores(np.array([2.0, 6.0, 30.0])).round(3).tolist()
    [0.0, 0.632, 1.0]
    """
    return np.where(z <= z_floor, 0.0, -np.expm1(-(z - z_floor) / z_scale))
