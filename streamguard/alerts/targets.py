"""Alert targets and what each kind receives: generic JSON, Slack, PagerDuty Events v2.

A :class:`Notification` is one state change of one incident (firing or resolved);
:func:`render` turns it into the body and headers a target of each kind expects. Target
URLs may carry tokens (Slack webhook paths) and secrets sign or route alerts, so
neither is ever part of a ``repr``, a log line, an error message or a metric label.

Examples
--------
>>> n = Notification("firing", "behavior/schema_drift/price", "schema_drift", "behavior",
...                  "price", "warning", "schema_drift on behavior.price", [],
...                  "2026-11-23T10:00:00.000Z", None)
>>> target = AlertTarget("ops", "generic", "https://hooks.example/x", secret="s3cret")
>>> target
AlertTarget(name='ops', kind='generic', timeout_s=5.0, rate_limit_per_minute=30.0,
            burst=10, max_attempts=8)
>>> body, headers = render(n, target)
>>> verify_signature(body, headers["X-StreamGuard-Signature"], "s3cret")
True
>>> orjson.loads(render(n, AlertTarget("pd", "pagerduty", secret="key"))[0])["event_action"]
'trigger'
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import orjson

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "SIGNATURE_HEADER",
    "AlertTarget",
    "Notification",
    "TargetKind",
    "render",
    "sign",
    "targets_from_settings",
    "verify_signature",
]

TargetKind = Literal["generic", "slack", "pagerduty"]
_KINDS: Final = ("generic", "slack", "pagerduty")
#: Header carrying ``sha256=<hex HMAC-SHA256 of the raw body>`` on generic webhooks.
SIGNATURE_HEADER: Final = "X-StreamGuard-Signature"
PAGERDUTY_EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# PagerDuty's severities; ours map onto them (unknown ones become "warning").
_PD_SEVERITY: Final = {"critical": "critical", "error": "error", "warning": "warning"}
_SLACK_ICON: Final = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True, slots=True)
class Notification:
    """One state change of one incident: the generic webhook body of DESIGN.md."""

    status: Literal["firing", "resolved"]
    group_key: str
    kind: str
    stream: str
    field: str | None
    severity: str
    summary: str
    findings: list[dict[str, Any]]
    started_at: str
    ended_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """The generic webhook JSON object."""
        return {
            "status": self.status,
            "group_key": self.group_key,
            "kind": self.kind,
            "stream": self.stream,
            "field": self.field,
            "severity": self.severity,
            "summary": self.summary,
            "findings": self.findings,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """Where notifications go. ``secret``: HMAC key (generic) or routing key (pagerduty).

    Parameters
    ----------
    name
        Short identifier used in metrics and logs (``[A-Za-z0-9_.-]{1,64}``).
    kind
        ``generic`` (DESIGN.md JSON, signed when ``secret`` is set), ``slack``
        (incoming webhook) or ``pagerduty`` (Events API v2).
    url
        The endpoint; PagerDuty defaults to :data:`PAGERDUTY_EVENTS_URL`.
    timeout_s
        Per-request timeout (connect, read, write and pool).
    rate_limit_per_minute, burst
        Token bucket: sustained rate and how many may go at once.
    max_attempts
        Tries per notification before it counts as failed.
    """

    name: str
    kind: TargetKind
    url: str = field(default="", repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0
    rate_limit_per_minute: float = 30.0
    burst: int = 10
    max_attempts: int = 8

    def __post_init__(self) -> None:
        # Messages name the target, never its URL or secret (both may hold tokens).
        if not _NAME.match(self.name):
            raise ValueError(f"alert target name must match {_NAME.pattern}: {self.name!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"alert target {self.name}: kind must be one of {', '.join(_KINDS)}")
        if self.kind == "pagerduty" and not self.url:
            object.__setattr__(self, "url", PAGERDUTY_EVENTS_URL)
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"alert target {self.name}: url must start with http:// or https://")
        if self.kind == "pagerduty" and not self.secret:
            raise ValueError(f"alert target {self.name}: pagerduty needs secret = routing key")
        if self.timeout_s <= 0 or self.rate_limit_per_minute <= 0:
            raise ValueError(f"alert target {self.name}: timeout and rate limit must be > 0")
        if self.burst < 1 or self.max_attempts < 1:
            raise ValueError(f"alert target {self.name}: burst and max_attempts must be >= 1")


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of body>``.

    >>> sign(b"{}", "k")
    'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
    """
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the signature of ``body`` (constant-time compare).

    >>> verify_signature(b"{}", sign(b"{}", "k"), "k"), verify_signature(b"{}", None, "k")
    (True, False)
    """
    return header is not None and hmac.compare_digest(header, sign(body, secret))


def _slack(n: Notification) -> dict[str, Any]:
    where = f"{n.stream}.{n.field}" if n.field else n.stream
    head = f"{_SLACK_ICON[n.status]} *[{n.status.upper()}]* {n.summary}"
    lines = [head, f"kind `{n.kind}` · stream `{where}` · severity `{n.severity}`"]
    lines.append(f"since {n.started_at}" + (f" until {n.ended_at}" if n.ended_at else ""))
    return {
        "text": f"[{n.status.upper()}] {n.summary}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
    }


def _pagerduty(n: Notification, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if n.status == "firing" else "resolve",
        "dedup_key": n.group_key,
    }
    if n.status == "firing":
        body["payload"] = {
            "summary": n.summary[:1024],
            "source": "streamguard",
            "severity": _PD_SEVERITY.get(n.severity, "warning"),
            "timestamp": n.started_at,
            "component": n.stream,
            "group": n.kind,
            "class": n.field or "",
            "custom_details": {"findings": n.findings},
        }
    return body


def render(notification: Notification, target: AlertTarget) -> tuple[bytes, dict[str, str]]:
    """The request body and headers for ``target``'s kind."""
    headers = {"Content-Type": "application/json", "User-Agent": "streamguard-alerts"}
    if target.kind == "slack":
        return orjson.dumps(_slack(notification)), headers
    if target.kind == "pagerduty":
        return orjson.dumps(_pagerduty(notification, target.secret or "")), headers
    body = orjson.dumps(notification.as_dict())
    if target.secret:
        headers[SIGNATURE_HEADER] = sign(body, target.secret)
    return body, headers


def targets_from_settings(settings: Settings) -> list[AlertTarget]:
    """The targets configured in ``settings``: ``alert_targets`` plus the one-target
    shortcut ``STREAMGUARD_WEBHOOK_URL`` / ``STREAMGUARD_WEBHOOK_SECRET`` (a generic
    target named ``webhook``)."""
    targets: list[AlertTarget] = []
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        targets.append(AlertTarget("webhook", "generic", settings.webhook_url, secret=secret))
    for t in settings.alert_targets:
        targets.append(
            AlertTarget(
                t.name,
                t.kind,
                t.url.get_secret_value() if t.url else "",
                secret=t.secret.get_secret_value() if t.secret else None,
                timeout_s=t.timeout_s,
                rate_limit_per_minute=t.rate_limit_per_minute,
                burst=t.burst,
                max_attempts=t.max_attempts,
            )
        )
    names = [t.name for t in targets]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"alert target names must be unique: {', '.join(duplicated)}")
    return targets
