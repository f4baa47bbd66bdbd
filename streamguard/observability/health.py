"""Liveness and readiness of the worker, shared by its loop and its HTTP server.

Examples
--------
>>> health = Health()
>>> health.require("assigned", "model")
>>> health.set_condition("assigned", True)
>>> health.readiness()
(False, {'assigned': True, 'model': False})
>>> health.set_condition("model", True)
>>> health.readiness()[0], health.live
(True, True)
"""

from __future__ import annotations

import threading

__all__ = ["Health"]


class Health:
    """Liveness and readiness flags shared between the worker and the HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live = True
        self._ready: dict[str, bool] = {}

    def set_condition(self, name: str, ok: bool) -> None:
        """Set one readiness condition (e.g. ``assigned``, ``model``)."""
        with self._lock:
            self._ready[name] = ok

    def require(self, *names: str) -> None:
        """Declare conditions that must all be true before the worker is ready."""
        with self._lock:
            for name in names:
                self._ready.setdefault(name, False)

    def set_live(self, live: bool) -> None:
        """Mark the process alive or dead."""
        with self._lock:
            self._live = live

    @property
    def live(self) -> bool:
        """True while the worker's loop is running."""
        return self._live

    def readiness(self) -> tuple[bool, dict[str, bool]]:
        """Whether ready, and each condition."""
        with self._lock:
            conditions = dict(self._ready)
        return bool(conditions) and all(conditions.values()), conditions
