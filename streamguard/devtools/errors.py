"""The error the embedded-broker tools raise (re-exported by :mod:`.broker`)."""

from __future__ import annotations

__all__ = ["BrokerError"]


class BrokerError(RuntimeError):
    """The embedded broker cannot be found, started, or did not behave as expected."""
