"""The incident book with active signals: an incident is held open while its signal is
active, and the quiet period counts from the moment it cleared."""

from __future__ import annotations

from streamguard.alerts import IncidentBook
from streamguard.events.signals import Signal

QUIET_S = 60.0


def test_anomaly_incidents_resolve_a_quiet_period_after_the_last_finding() -> None:
    # The documented choice: an anomaly is a per-record event, active while findings keep
    # coming; the quiet period after the last one resolves it.
    book = IncidentBook(QUIET_S)
    finding = {"kind": "anomaly", "stream": "product", "field": "price", "severity": "warning"}
    assert book.observe(finding, 0.0) is not None
    book.observe_signals([], 0.0 + 30, streams=["product"])
    assert book.expire(0.0 + QUIET_S - 1) == []
    assert [n.status for n in book.expire(0.0 + QUIET_S)] == ["resolved"]


def test_an_active_signal_holds_the_incident_and_the_quiet_period_counts_from_its_clear() -> None:
    book = IncidentBook(QUIET_S)
    finding = {"kind": "schema_drift", "stream": "behavior", "field": "price"}
    signal = Signal("schema_drift", "behavior", "price", statistic=0.8, threshold=0.3, since=0.0)
    book.observe(finding, 0.0)
    for now in range(0, 600, 10):
        book.observe_signals([signal], float(now), streams=["behavior"])
        assert book.expire(float(now)) == []
    book.observe_signals([], 600.0, streams=["product"])  # another stream: no change
    assert book.expire(700.0) == []
    book.observe_signals([], 700.0, streams=["behavior"])  # cleared at 700
    assert book.expire(700.0 + QUIET_S - 1) == []
    assert [n.status for n in book.expire(700.0 + QUIET_S)] == ["resolved"]
