"""Alert targets and what each kind receives: generic JSON, Slack, PagerDuty Events v2.

A :class:`Notification` is one state change of one incident (``firing``, ``updated``,
``resolved``) carrying DESIGN.md's generic webhook body; :func:`render` turns it into the
body and headers a target of each kind expects (None: this kind does not get it;
PagerDuty gets no ``updated``, except a reopen, which re-triggers its ``dedup_key``).
Target URLs may carry tokens (Slack webhook paths) and secrets sign or route alerts, so
neither is ever part of a ``repr``, a log line, an error message or a metric label.

Examples
--------
>>> n = Notification("firing", {"status": "firing", "incident_id": "inc-1",
...                  "stream": "behavior", "severity": "warning",
...                  "summary": "behavior: 1 signal (schema_drift on price)", "signals": [],
...                  "started_at": "2026-11-23T10:00:00.000Z", "ended_at": None})
>>> target = AlertTarget("ops", "generic", "https://hooks.example/x", secret="s3cret")
>>> target
AlertTarget(name='ops', kind='generic', timeout_s=5.0, rate_limit_per_minute=30.0,
            burst=10, max_attempts=8)
>>> body, headers = render(n, target)
>>> verify_signature(body, headers["X-StreamGuard-Signature"], "s3cret")
True
>>> pd = orjson.loads(render(n, AlertTarget("pd", "pagerduty", secret="key"))[0])
>>> pd["event_action"], pd["dedup_key"]
('trigger', 'inc-1')
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
_SLACK_ICON: Final = {
    "firing": ":rotating_light:",
    "updated": ":arrows_counterclockwise:",
    "resolved": ":white_check_mark:",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One state change of one incident. ``body`` is DESIGN.md's generic webhook body;
    ``notify`` False: published on the incidents topic but sent to no target (an
    incident linked to a related one that already paged)."""

    status: Literal["firing", "updated", "resolved"]
    body: dict[str, Any]
    notify: bool = True

    @property
    def incident_id(self) -> str:
        """The incident's id (PagerDuty's ``dedup_key``)."""
        return str(self.body["incident_id"])

    @property
    def stream(self) -> str:
        """The incident's stream."""
        return str(self.body["stream"])

    def as_dict(self) -> dict[str, Any]:
        """The generic webhook JSON object."""
        return self.body


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


def _signal_line(signal: dict[str, Any]) -> str:
    name = signal.get("field") or signal.get("dimension") or "_record"
    numbers = ""
    if signal.get("statistic") is not None and signal.get("threshold") is not None:
        numbers = f" {signal['statistic']:.4g} vs {signal['threshold']:.4g}"
    return f"• `{signal.get('kind')}` on `{name}`{numbers} since {signal.get('since')}"


def _slack(n: Notification) -> dict[str, Any]:
    """Block Kit message (incoming webhook): the incident, its signals, top reasons; an
    update or resolve is a follow-up that names the incident."""
    b = n.body
    title = f"{_SLACK_ICON[n.status]} *[{n.status.upper()}]* {b.get('summary', '')}"
    meta = (
        f"incident `{b['incident_id']}` · stream `{b['stream']}` · severity "
        f"`{b.get('severity')}` · since {b.get('started_at')}"
    )
    if n.status == "resolved":
        meta += (
            f" · resolved {b.get('ended_at')} after {b.get('duration_s', 0):.0f} s · "
            f"{b.get('records_in', 0)} records in, {b.get('records_quarantined', 0)} quarantined"
        )
    if n.status == "updated" and b.get("reopened"):
        meta += f" · reopened ({b['reopened']}x)"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\n{meta}"[:3000]}}
    ]
    signals = [_signal_line(s) for s in b.get("signals") or []]
    if signals:
        text = "*Signals*\n" + "\n".join(signals[:20])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    reasons = [
        f"• `{r.get('code')}` on `{r.get('field')}`: {r.get('count')}"
        for r in b.get("top_reasons") or []
    ]
    if reasons:
        text = "*Top reasons*\n" + "\n".join(reasons)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if b.get("related"):
        related = ", ".join(f"`{r}`" for r in b["related"])
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"related: {related}"}]}
        )
    return {"text": f"[{n.status.upper()}] {b.get('summary', '')}"[:3000], "blocks": blocks}


def _pagerduty(n: Notification, routing_key: str) -> dict[str, Any] | None:
    """Events API v2: trigger on firing (and on a reopen), resolve on resolved; other
    updates are not sent (PagerDuty would only repeat the incident)."""
    b = n.body
    if n.status == "updated" and not b.get("reopened"):
        return None
    if n.status == "resolved":
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": n.incident_id,
        }
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.incident_id,
        "payload": {
            "summary": str(b.get("summary", ""))[:1024],
            "source": "streamguard",
            "severity": _PD_SEVERITY.get(str(b.get("severity")), "warning"),
            "timestamp": b.get("started_at"),
            "component": n.stream,
            "group": n.stream,
            "class": "data_quality",
            "custom_details": {
                "incident_id": n.incident_id,
                "signals": b.get("signals") or [],
                "top_reasons": b.get("top_reasons") or [],
                "examples": b.get("examples") or [],
                "related": b.get("related") or [],
            },
        },
    }


def render(notification: Notification, target: AlertTarget) -> tuple[bytes, dict[str, str]] | None:
    """The request body and headers for ``target``'s kind (None: not sent to it)."""
    headers = {"Content-Type": "application/json", "User-Agent": "streamguard-alerts"}
    if target.kind == "slack":
        return orjson.dumps(_slack(notification)), headers
    if target.kind == "pagerduty":
        payload = _pagerduty(notification, target.secret or "")
        return None if payload is None else (orjson.dumps(payload), headers)
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
