"""The demo's summary: incidents from webhook bodies (either shape), findings, lists."""

from __future__ import annotations

import pytest

from streamguard.commands.demo import DEMO_WORKER_SETTINGS, demo_worker_env
from streamguard.commands.demo_view import DemoView
from streamguard.config import Settings


def test_an_incident_opens_and_resolves_in_the_timeline() -> None:
    view = DemoView()
    firing = {
        "status": "firing",
        "incident_id": "inc-1",
        "stream": "behavior",
        "severity": "critical",
        "signals": [
            {"kind": "quality_drop", "field": None, "dimension": "validity"},
            {"kind": "quality_drop", "field": "user_id"},
        ],
    }
    view.on_notification(firing, at_s=18.4)
    lines = view.lines(now_s=20.0)
    assert lines[0].startswith("  incident FIRING   +18s behavior [critical]")
    assert "quality_drop on validity" in lines[0] and "quality_drop on user_id" in lines[0]
    assert "  incidents open: behavior since +18s (2 signals)" in lines
    view.on_notification({**firing, "status": "resolved", "summary": "2 signals"}, at_s=33.0)
    lines = view.lines(now_s=35.0)
    assert lines[0] == "  incident RESOLVED +33s behavior after 15s: 2 signals"
    assert "  incidents open: none" in lines
    assert [line.split()[1] for line in view.timeline()] == ["FIRING", "RESOLVED"]


def test_the_older_one_group_body_still_reads() -> None:
    view = DemoView()
    view.on_notification(
        {
            "status": "firing",
            "group_key": "behavior/quality_drop/validity",
            "kind": "quality_drop",
            "stream": "behavior",
            "field": None,
            "severity": "warning",
        },
        at_s=5.0,
    )
    assert "quality_drop on validity" in view.lines(6.0)[0]


def test_a_reopened_incident_is_open_again() -> None:
    view = DemoView()
    body = {"status": "firing", "incident_id": "i", "stream": "product", "signals": []}
    view.on_notification(body, 1.0)
    view.on_notification({**body, "status": "resolved"}, 2.0)
    view.on_notification(body, 3.0)
    assert view.incidents["i"].resolved_s is None and view.incidents["i"].opened_s == 3.0


def test_drift_is_listed_once_per_field_and_recommendations_counted() -> None:
    view = DemoView()
    finding = {"kind": "semantic_drift", "stream": "product", "field": "description"}
    view.on_finding({**finding, "statistic": 0.9, "threshold": 0.3}, 29.0)
    view.on_finding({**finding, "statistic": 0.8, "threshold": 0.3}, 31.0)
    view.on_finding({"kind": "anomaly", "stream": "product", "field": "price"}, 31.0)
    view.on_recommendation({"user_id": "u1", "items": [{"product_id": "p1", "score": 1.0}]})
    view.on_recommendation({"user_id": "u2", "items": []})
    lines = view.lines(32.0)
    assert lines == [
        "  drift: semantic_drift on product.description (0.90 > 0.30) at +29s",
        "  recommendations: 2 lists published, e.g. u1 -> p1 (1.00)",
    ]
    assert view.findings["product", "anomaly"] == 1


def test_the_demo_worker_settings_are_short_and_valid_where_they_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().quality_window != 100  # the defaults are not the demo's
    env = demo_worker_env({})
    assert env["STREAMGUARD_ALERT_QUIET_PERIOD_S"] == "5"
    assert set(env) <= {f"STREAMGUARD_{name.upper()}" for name in DEMO_WORKER_SETTINGS}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # the worker reads them from its environment the same way
    assert settings.quality_window == 100 and settings.alert_quiet_period_s == 5.0
