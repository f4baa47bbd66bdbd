"""Alerts from StreamGuard itself: findings grouped into incidents, sent to on-call.

Build an :class:`AlertManager` from :func:`targets_from_settings`, ``start()`` it, feed
it findings with ``submit``, ``stop()`` it at shutdown. See :mod:`.manager` for the
threading model and :mod:`.targets` for what each target kind receives.
"""

from streamguard.alerts.delivery import TargetWorker, TokenBucket
from streamguard.alerts.incidents import IncidentBook, group_key, validate_finding
from streamguard.alerts.manager import AlertManager
from streamguard.alerts.targets import (
    PAGERDUTY_EVENTS_URL,
    SIGNATURE_HEADER,
    AlertTarget,
    Notification,
    render,
    sign,
    targets_from_settings,
    verify_signature,
)

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "SIGNATURE_HEADER",
    "AlertManager",
    "AlertTarget",
    "IncidentBook",
    "Notification",
    "TargetWorker",
    "TokenBucket",
    "group_key",
    "render",
    "sign",
    "targets_from_settings",
    "validate_finding",
    "verify_signature",
]
