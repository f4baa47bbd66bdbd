"""What saving and restoring the detectors' state did, one record per detector and stream
(:mod:`streamguard.runtime.detector_state` makes them; the metrics and logs read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamguard.runtime.state_store import Pickled

__all__ = ["Captured", "Restored", "Written"]


@dataclass(frozen=True, slots=True)
class Captured:
    """One detector's pickled state, ready for
    :meth:`~streamguard.runtime.detector_state.DetectorSnapshots.write` (``pickled``: why
    not, when it did not pickle)."""

    detector: str
    stream: str
    pickled: Pickled | str
    header: dict[str, Any]
    seconds: float


@dataclass(frozen=True, slots=True)
class Written:
    """A state file written (``error``: why not, and nothing was replaced)."""

    detector: str
    stream: str
    path: Path
    size: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Restored:
    """What :meth:`~streamguard.runtime.detector_state.DetectorSnapshots.restore` did for
    one detector.

    ``result``: ``restored``, ``missing`` (no file: a first start) or why the file was
    set aside: ``corrupt``, ``version``, ``config``, ``code``, ``unreadable`` (see
    :class:`~streamguard.runtime.state_store.StateMismatch`) or ``error`` (not readable).
    """

    detector: str
    stream: str
    result: str
    detail: str = ""
    size: int = 0
    age_s: float | None = None
