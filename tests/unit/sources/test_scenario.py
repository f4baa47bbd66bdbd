"""The demo's scripted scenario: phases in time, the burst, the drift, determinism."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from streamguard.sources.faults import FaultMix, GeneratedRecord
from streamguard.sources.scenario import (
    BURST_FAULTS,
    Phase,
    Scenario,
    ScenarioSource,
    demo_scenario,
)


def _play(scenario: Scenario, at: float, count: int, **options: Any) -> list[GeneratedRecord]:
    source = ScenarioSource(scenario, seed=3, elapsed=lambda: at, **options)
    return [source.next_record() for _ in range(count)]


def test_phases_follow_the_script_and_the_last_one_lasts() -> None:
    scenario = demo_scenario()
    names = [scenario.phase_at(t).name for t in (0, 14.9, 15, 26.9, 27, 39.9, 40, 3600)]
    assert names == [
        "healthy",
        "healthy",
        "fault burst",
        "fault burst",
        "semantic drift",
        "semantic drift",
        "recovery",
        "recovery",
    ]


def test_same_seed_and_clock_same_bytes() -> None:
    scenario = demo_scenario()
    for t in (0.0, 20.0, 30.0):
        first = [(r.key, r.value) for r in _play(scenario, t, 1500)]
        again = [(r.key, r.value) for r in _play(scenario, t, 1500)]
        assert first == again


def test_the_catalogue_comes_first_then_both_streams() -> None:
    records = _play(demo_scenario(), 0.0, 600, catalogue_size=100)
    streams = [r.stream for r in records]
    assert streams[:100] == ["product"] * 100
    share = streams[100:].count("product") / 500
    assert 0.05 < share < 0.3


def test_the_burst_breaks_most_behaviour_events_with_its_own_faults() -> None:
    records = _play(demo_scenario(), 20.0, 3000, preload_catalogue=False)
    behaviour = [r for r in records if r.stream == "behavior"]
    faults = Counter(r.fault for r in behaviour)
    broken = sum(n for fault, n in faults.items() if fault is not None)
    assert 0.5 < broken / len(behaviour) < 0.7
    assert {f for f in faults if f is not None} <= set(BURST_FAULTS)
    assert all(r.expected == "quarantine" for r in behaviour if r.fault is not None)


def test_healthy_traffic_has_only_a_trickle_of_faults() -> None:
    records = _play(demo_scenario(), 0.0, 3000, preload_catalogue=False)
    broken = sum(r.fault is not None for r in records)
    assert broken / len(records) < 0.05


def test_the_drift_changes_product_descriptions_only_during_its_phase() -> None:
    def descriptions(t: float) -> list[str]:
        records = _play(demo_scenario(), t, 2000, preload_catalogue=False)
        values = [
            orjson.loads(r.value) for r in records if r.stream == "product" and r.fault is None
        ]
        return [v["description"] for v in values if "description" in v]

    drifted = descriptions(30.0)
    assert drifted and all(d.startswith("Item #") for d in drifted)
    assert len(set(drifted)) > len(drifted) // 2  # a template with numbers, many values
    for t in (0.0, 20.0, 45.0):
        assert not any(d.startswith("Item #") for d in descriptions(t))


def test_steady_is_one_phase_with_the_given_mix() -> None:
    mix = FaultMix.uniform(0.15, "both")
    scenario = Scenario.steady(mix)
    assert scenario.phase_at(0).faults == mix and scenario.phase_at(1e9).name == "steady"


def test_bad_scripts_are_refused() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        Scenario([Phase("late", 5.0, "starts late")])
    with pytest.raises(ValueError, match="time order"):
        Scenario([Phase("a", 0.0, "a"), Phase("b", 9.0, "b"), Phase("c", 3.0, "c")])
    with pytest.raises(ValueError, match="unknown drift"):
        Phase("x", 0.0, "x", product_drift="nonsense")
