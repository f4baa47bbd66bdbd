"""Alerts from StreamGuard itself: findings and signals correlated into incidents (one
per stream episode), sent to on-call.

Build an :class:`AlertManager` from :func:`targets_from_settings`, ``start()`` it, feed
it findings-topic records with ``handle_record`` (or ``submit`` / ``update_signals``),
``stop()`` it at shutdown. See :mod:`.incidents` for the correlation rules,
:mod:`.incident` for the record, :mod:`.manager` for the threading model and
:mod:`.targets` for what each target kind receives.
"""

from streamguard.alerts.delivery import TargetWorker, TokenBucket
from streamguard.alerts.incident import Incident
from streamguard.alerts.incidents import IncidentBook, group_key, validate_finding
from streamguard.alerts.manager import SIGNALS_KIND, AlertManager
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
    "SIGNALS_KIND",
    "SIGNATURE_HEADER",
    "AlertManager",
    "AlertTarget",
    "Incident",
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
