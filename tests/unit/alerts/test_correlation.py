"""The correlation rules of IncidentBook: join, window, group wait, update throttling,
flap reopen, related link, severity, resolve, take-over."""

from __future__ import annotations

import itertools
from typing import Any

from streamguard.alerts import IncidentBook
from streamguard.events.signals import Signal

T0 = 1_800_000_000.0
Counts = tuple[int, int, dict[tuple[str, str | None], int]]


def drop(field: str | None, *, stream: str = "behavior", dimension: str | None = None,
         severity: str = "warning", offset: int = 7) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": "quality_drop",
        "stream": stream,
        "field": field,
        "dimension": dimension,
        "severity": severity,
        "statistic": 0.4,
        "threshold": 0.98,
        "position": {"topic": f"events.{stream}", "partition": 0, "offset": offset},
    }


def signal(field: str | None, *, stream: str = "behavior", dimension: str | None = None,
           since: float = T0) -> Signal:  # fmt: skip
    return Signal("quality_drop", stream, field, 0.4, 0.98, since=since, dimension=dimension)


def book(**kwargs: Any) -> IncidentBook:
    counter = itertools.count(1)
    defaults: dict[str, Any] = {
        "correlation_window_s": 120,
        "quiet_period_s": 60,
        "group_wait_s": 5,
        "update_interval_s": 600,
        "flap_window_s": 600,
        "signal_ttl_s": 30,
    }
    return IncidentBook(**{**defaults, **kwargs}, ids=lambda: f"inc-{next(counter)}")


def statuses(notes: list[Any]) -> list[tuple[str, str]]:
    return [(n.status, n.incident_id) for n in notes]


def test_findings_within_the_window_join_one_incident_and_fire_once() -> None:
    b = book()
    for i, field in enumerate(["event_id", "user_id", "ts", "session_id", "platform"]):
        b.observe(drop(field), T0 + i)
    b.observe(drop(None, dimension="validity", severity="critical"), T0 + 4)
    notes = b.tick(T0 + 5)
    assert statuses(notes) == [("firing", "inc-1")]
    body = notes[0].body
    assert len(body["signals"]) == 6
    assert {s["field"] for s in body["signals"]} >= {"event_id", "user_id"}
    assert body["examples"] == [{"topic": "events.behavior", "partition": 0, "offset": 7}]
    assert b.open_count == 1
    assert b.tick(T0 + 6) == []  # no page per finding


def test_a_signal_after_the_window_opens_a_new_incident() -> None:
    b = book()
    b.observe(drop("user_id"), T0)
    assert statuses(b.tick(T0 + 5)) == [("firing", "inc-1")]
    b.observe(drop("user_id"), T0 + 200)  # the same signal: still the same incident
    b.observe(drop("price"), T0 + 200)  # a new one, after the window: a new incident
    assert statuses(b.tick(T0 + 205)) == [("firing", "inc-2")]
    assert b.open_count == 2


def test_another_stream_is_another_incident() -> None:
    b = book()
    b.observe(drop("user_id"), T0)
    b.observe(drop("title", stream="product"), T0)
    assert sorted(n.stream for n in b.tick(T0 + 5)) == ["behavior", "product"]


def test_a_joining_signal_gives_at_most_one_update_per_interval() -> None:
    b = book(update_interval_s=600, quiet_period_s=10_000)
    b.observe(drop("user_id"), T0)
    b.tick(T0 + 5)
    b.observe(drop("ts"), T0 + 10)
    b.observe(drop("platform"), T0 + 20)
    for t in range(30, 600, 30):
        assert b.tick(T0 + t) == [], t
    notes = b.tick(T0 + 605)
    assert statuses(notes) == [("updated", "inc-1")]
    assert len(notes[0].body["signals"]) == 3
    assert b.tick(T0 + 606) == []  # nothing new since


def test_updates_can_be_switched_off() -> None:
    b = book(update_interval_s=0, quiet_period_s=10_000)
    b.observe(drop("user_id"), T0)
    b.tick(T0 + 5)
    b.observe(drop("ts"), T0 + 10)
    assert b.tick(T0 + 5000) == []


def test_severity_is_the_highest_of_its_signals() -> None:
    b = book()
    b.observe(drop("user_id", severity="warning"), T0)
    b.observe(drop(None, dimension="validity", severity="critical"), T0 + 1)
    b.observe(drop("ts", severity="warning"), T0 + 2)
    assert b.tick(T0 + 5)[0].body["severity"] == "critical"
    assert b.severities() == {("behavior", "critical"): 1}


def test_resolves_only_when_every_signal_cleared_and_the_quiet_period_passed() -> None:
    b = book(quiet_period_s=60)
    b.observe(drop(None, dimension="validity"), T0)
    b.observe(drop("user_id"), T0)
    b.tick(T0 + 5)
    both = [signal(None, dimension="validity"), signal("user_id")]
    b.observe_signals(both, T0 + 100, streams=["behavior"])
    assert b.tick(T0 + 120) == []
    b.observe_signals(both[:1], T0 + 130, streams=["behavior"])  # user_id cleared
    b.observe_signals(both[:1], T0 + 175, streams=["behavior"])
    b.observe_signals(both[:1], T0 + 195, streams=["behavior"])
    assert b.tick(T0 + 180) == []  # validity still holds
    b.observe_signals([], T0 + 200, streams=["behavior"])  # all clear at 200
    assert b.tick(T0 + 259) == []
    notes = b.tick(T0 + 260)
    assert statuses(notes) == [("resolved", "inc-1")]
    assert notes[0].body["ended_at"] is not None
    assert notes[0].body["duration_s"] == 260.0


def test_a_signal_of_any_worker_holds_the_incident_until_its_report_is_stale() -> None:
    b = book(quiet_period_s=10, signal_ttl_s=30)
    b.observe(drop("user_id"), T0)
    b.tick(T0 + 5)
    b.observe_signals([signal("user_id")], T0 + 5, streams=["behavior"], source="w1")
    b.observe_signals([], T0 + 6, streams=["behavior"], source="w2")
    assert b.tick(T0 + 30) == []  # w1 says it holds
    # w1 went silent (crashed): its report counts for signal_ttl_s, then the quiet period
    assert b.tick(T0 + 35) == []
    assert b.tick(T0 + 44) == []
    assert statuses(b.tick(T0 + 46)) == [("resolved", "inc-1")]


def test_the_resolve_summary_counts_records_and_reasons_during_the_incident() -> None:
    b = book(quiet_period_s=10)
    counts: dict[str, Counts] = {"behavior": (1000, 5, {("missing_field", "user_id"): 5})}
    b.observe_signals([], T0 - 1, streams=["behavior"], source="w1", counts=counts)
    b.observe(drop("user_id", offset=11), T0)
    b.tick(T0 + 5)
    later: dict[str, Counts] = {
        "behavior": (1600, 405, {("missing_field", "user_id"): 395, ("bad", "ts"): 10})
    }
    b.observe_signals([], T0 + 6, streams=["behavior"], source="w1", counts=later)
    notes = b.tick(T0 + 16)
    body = notes[0].body
    assert body["status"] == "resolved"
    assert (body["records_in"], body["records_quarantined"]) == (600, 400)
    assert body["top_reasons"] == [
        {"code": "missing_field", "field": "user_id", "count": 390},
        {"code": "bad", "field": "ts", "count": 10},
    ]
    assert body["examples"] == [{"topic": "events.behavior", "partition": 0, "offset": 11}]


def test_a_reopen_within_the_flap_window_is_the_same_incident_not_a_new_page() -> None:
    b = book(quiet_period_s=10, flap_window_s=600)
    b.observe(drop("user_id"), T0)
    assert statuses(b.tick(T0 + 5)) == [("firing", "inc-1")]
    assert statuses(b.tick(T0 + 15)) == [("resolved", "inc-1")]
    b.observe(drop("user_id"), T0 + 300)
    notes = b.tick(T0 + 301)
    assert statuses(notes) == [("updated", "inc-1")]
    assert notes[0].body["reopened"] == 1 and notes[0].body["ended_at"] is None
    assert statuses(b.tick(T0 + 311)) == [("resolved", "inc-1")]
    b.observe(drop("user_id"), T0 + 311 + 601)  # past the flap window: a new incident
    assert statuses(b.tick(T0 + 311 + 606)) == [("firing", "inc-2")]


def test_a_catalogue_join_incident_links_to_the_open_product_incident() -> None:
    b = book()
    b.observe(drop("title", stream="product"), T0)
    assert statuses(b.tick(T0 + 5)) == [("firing", "inc-1")]
    b.observe(drop(None, dimension="consistency"), T0 + 10)
    notes = b.tick(T0 + 15)
    assert statuses(notes) == [("firing", "inc-2")]
    assert notes[0].notify is False  # published, not paged
    assert notes[0].body["related"] == ["inc-1"]
    product = b.open_incidents("product")[0]
    assert product.related == ["inc-2"]
    # Another kind of signal on behaviour: a cause of its own, so it pages.
    b.observe(drop("user_id"), T0 + 20)
    notes = b.tick(T0 + 21)
    assert statuses(notes) == [("firing", "inc-2")] and notes[0].notify is True


def test_without_an_open_product_incident_a_catalogue_drop_pages() -> None:
    b = book()
    b.observe(drop(None, dimension="consistency"), T0)
    notes = b.tick(T0 + 5)
    assert notes[0].notify is True and notes[0].body["related"] == []


def test_a_new_owner_takes_over_an_open_incident_without_paging_again() -> None:
    first = book(quiet_period_s=10)
    first.observe(drop("user_id"), T0)
    first.observe(drop("ts"), T0)
    record = first.tick(T0 + 5)[0].body
    second = book(quiet_period_s=10)
    assert second.restore(record, T0 + 6)
    second.observe(drop("user_id"), T0 + 7)  # the same episode goes on
    second.observe_signals([signal("ts")], T0 + 7, streams=["behavior"])
    assert second.tick(T0 + 8) == []
    assert second.open_count == 1
    second.observe_signals([], T0 + 9, streams=["behavior"])
    assert statuses(second.tick(T0 + 19)) == [("resolved", "inc-1")]


def test_forget_drops_the_streams_another_worker_owns_now() -> None:
    b = book()
    b.observe(drop("user_id"), T0)
    b.observe(drop("title", stream="product"), T0)
    b.forget(["behavior"])
    assert [i.stream for i in b.open_incidents()] == ["product"]
