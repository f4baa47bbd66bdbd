"""``streamguard console``: refuses to run without a broker to read; settings wiring."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streamguard.cli import main
from streamguard.config import Settings
from streamguard.console.server import auth_from, roles_from


def test_without_a_broker_it_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--port", "0"]) == 2
    assert "--broker kafka://host:port" in capsys.readouterr().err
    assert main(["console", "--broker", "http://nope"]) == 2


def test_roles_and_auth_come_from_the_settings() -> None:
    settings = Settings(
        topic_quarantine="q",
        topic_behavior="in.b",
        console_username="ops",
        console_password=SecretStr("pw"),
    )
    roles = roles_from(settings)
    assert roles.quarantine == "q" and roles.streams["in.b"] == "behavior"
    auth = auth_from(settings)
    assert auth is not None and auth.username == "ops" and "pw" not in repr(auth)
    assert auth_from(Settings()) is None
    assert settings.console_host == "127.0.0.1"
    assert "pw" not in str(settings.redacted())
