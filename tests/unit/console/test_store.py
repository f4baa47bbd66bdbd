"""The console store keeps bounded views of the topics and never fails on odd records."""

from __future__ import annotations

from streamguard.console.store import OTHER, ConsoleStore
from tests.unit.console.feed import Feed


def test_quarantine_is_bounded_per_stream_and_per_reason_newest_first() -> None:
    store = ConsoleStore(quarantine_per_stream=100, quarantine_per_reason=10)
    feed = Feed(store)
    for offset in range(5_000):
        feed.quarantine("behavior", "duplicate" if offset % 50 else "missing_field", offset=offset)
    latest = list(store.quarantine_latest("behavior", None))
    assert len(latest) == 100
    assert [e.position.offset for e in latest[:3]] == [4999, 4998, 4997]
    rare = list(store.quarantine_latest("behavior", "missing_field"))
    assert len(rare) == 10  # still found although 98% of the stream is another reason
    assert all(e.reasons[0]["code"] == "missing_field" for e in rare)
    assert rare[0].source is not None and rare[0].source.offset == 4950
    assert store.quarantine_seen["behavior"] == 5_000
    assert store.reasons_seen["behavior", "missing_field"] == 100
    assert len(store.quarantine_all) == 100


def test_reason_filter_across_streams_merges_newest_first() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.quarantine("behavior", "duplicate", offset=1, at="2027-01-15T08:00:01.000Z")
    feed.quarantine("product", "duplicate", offset=2, at="2027-01-15T08:00:03.000Z")
    feed.quarantine("product", "too_large", offset=3, at="2027-01-15T08:00:04.000Z")
    found = [e.stream for e in store.quarantine_latest(None, "duplicate")]
    assert found == ["product", "behavior"]
    assert list(store.quarantine_latest("nope", None)) == []


def test_streams_are_capped_and_unknown_sources_bucketed() -> None:
    store = ConsoleStore(max_streams=3)
    feed = Feed(store)
    for i in range(10):
        feed.quarantine(f"s{i}", "duplicate")
    assert len(store.quarantine) == 4  # three streams, and the rest in one bucket
    assert OTHER in store.quarantine


def test_signal_states_sum_workers_and_keep_a_history() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.signals("behavior", 100, 10, at=1.0, source="w1")
    feed.signals("behavior", 50, 0, at=2.0, source="w2")
    feed.signals("behavior", 200, 20, at=3.0, source="w1")
    assert list(store.history["behavior"]) == [(1.0, 100, 10), (2.0, 150, 10), (3.0, 250, 20)]
    assert not store.findings  # signal states are not findings


def test_findings_keep_a_series_per_stream_kind_field() -> None:
    store = ConsoleStore(series_points=3)
    feed = Feed(store)
    for i in range(5):
        feed.finding("product", "semantic_drift", "description", 0.1 * i, at=float(i))
    points = store.series["product", "semantic_drift", "description"]
    assert [round(p.statistic, 1) for p in points] == [0.2, 0.3, 0.4]
    assert store.findings_seen["product", "semantic_drift"] == 5


def test_incidents_keep_latest_state_and_a_timeline_of_changes() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.incident("i1", "behavior", "firing", at=10.0)
    feed.incident("i1", "behavior", "updated", at=11.0)
    feed.incident("i1", "behavior", "updated", at=12.0)  # no change: no new entry
    feed.incident("i1", "behavior", "resolved", at=20.0)
    state = store.incidents["i1"]
    assert state.body["status"] == "resolved"
    assert [t["status"] for t in state.timeline] == ["firing", "updated", "resolved"]
    feed.put("streamguard.incidents", None, key="i1")  # tombstone
    assert "i1" not in store.incidents


def test_incidents_are_capped_evicting_resolved_first() -> None:
    store = ConsoleStore(max_incidents=2)
    feed = Feed(store)
    feed.incident("old", "behavior", "resolved", at=1.0)
    feed.incident("open", "behavior", "firing", at=2.0)
    feed.incident("new", "product", "firing", at=3.0)
    assert set(store.incidents) == {"open", "new"}


def test_inventory_ignores_worker_partials_and_bad_records_are_counted() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    feed.inventory("behavior")
    feed.inventory("behavior/worker-1")
    assert list(store.inventory) == ["behavior"]
    store.add("streamguard.quarantine", 0, 1, None, b"not json", 0.0)
    store.add("streamguard.findings", 0, 1, None, b"[1, 2]", 0.0)
    assert store.undecodable == 2
    feed.put("streamguard.incidents", {"status": "firing"})  # no incident_id
    assert not store.incidents and store.undecodable == 3
    feed.put("other.topic", {"x": 1})  # ignored
    assert store.streams() == ["behavior"]
