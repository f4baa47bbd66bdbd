"""One alert target's settings (``[[streamguard.alert_targets]]`` in the config file).

Examples
--------
>>> target = AlertTargetSettings(name="ops", kind="slack", url="https://hooks.example/x")
>>> target.url
SecretStr('**********')
>>> target.max_attempts
8
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["AlertTargetSettings"]


class AlertTargetSettings(BaseModel):
    """One alert target: ``generic`` webhook, ``slack`` incoming webhook or ``pagerduty``.

    ``url`` and ``secret`` are secret strings (a Slack URL is a credential); for PagerDuty
    ``secret`` is the routing key and ``url`` defaults to the Events API v2 endpoint.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: Literal["generic", "slack", "pagerduty"] = "generic"
    url: SecretStr | None = None
    secret: SecretStr | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    rate_limit_per_minute: float = Field(default=30.0, gt=0)
    burst: int = Field(default=10, ge=1)
    max_attempts: int = Field(default=8, ge=1)
