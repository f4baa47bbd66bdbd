"""The composite scorer as a pipeline observer: record scores, weights, drops, gauges."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamguard.events.models import BehaviorEvent
from streamguard.events.records import Outcome, SourcePosition
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import RecordPipeline
from streamguard.quality import DEFAULT_WEIGHTS, DIMENSIONS, QualityScorer
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex
from tests.unit.quality.test_dimensions import VIEW as COMPLETE_VIEW

START = datetime(2026, 11, 1, tzinfo=UTC)
NOW = START.timestamp() + 120.0  # two minutes after the first generated event

VIEW = {**COMPLETE_VIEW, "ts": int(NOW * 1000)}


class AnomalyStamp:
    """Stands in for the drift engine: an observer that runs before the scorer."""

    def __init__(self, score: float) -> None:
        self.score = score

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        pass

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        record["_dq"]["anomaly_score"] = self.score

    def on_outcome(self, outcome: Outcome) -> None:
        pass


def run(pipeline: RecordPipeline, records: list[dict[str, Any] | bytes]) -> list[Outcome]:
    outcomes = []
    for i, record in enumerate(records):
        raw = record if isinstance(record, bytes) else orjson.dumps(record)
        outcomes.append(pipeline.process(raw, SourcePosition("events.behavior", 0, i)))
    return outcomes


def fixed_now() -> float:
    return NOW


def scored(**kwargs: Any) -> tuple[QualityScorer, RecordPipeline]:
    observers = [kwargs.pop("before")] if "before" in kwargs else []
    scorer = QualityScorer("behavior", clock=fixed_now, **kwargs)
    pipeline = RecordPipeline(
        "behavior",
        clock=lambda: NOW,
        dedupe=DedupeIndex(3600, 1000),
        observers=[*observers, scorer],
    )
    return scorer, pipeline


def test_record_scores_reward_complete_valid_timely_records() -> None:
    scorer, pipeline = scored()
    perfect, corrected, late, sparse = run(
        pipeline,
        [
            VIEW,
            {**VIEW, "event_id": "e2", "platform": "iOS"},  # corrected (enum_normalize)
            {**VIEW, "event_id": "e3", "ts": int((NOW - 3600) * 1000)},  # an hour late
            {
                "event_id": "e4",
                "event_type": "view",
                "user_id": "u",
                "product_id": "p",
                "ts": VIEW["ts"],
            },  # fmt: skip
        ],
    )
    scores = [
        o.record["_dq"]["quality_score"] for o in (perfect, corrected, late, sparse) if o.record
    ]
    assert scores[0] == 1.0
    w = DEFAULT_WEIGHTS
    no_anomaly = 1 - w["anomaly"] - w["consistency"]  # neither applies here: renormalised
    assert scores[1] == pytest.approx(1 - w["validity"] * 0.1 / no_anomaly, abs=1e-4)
    assert scores[2] == pytest.approx(1 - w["timeliness"] / no_anomaly, abs=1e-4)
    assert scores[3] == pytest.approx(1 - w["completeness"] * (3 / 13) / no_anomaly, abs=1e-4)
    # The score reaches the serialized clean record.
    assert orjson.loads(perfect.value)["_dq"]["quality_score"] == 1.0


def test_anomaly_scores_from_an_earlier_observer_count() -> None:
    scorer, pipeline = scored(before=AnomalyStamp(0.95))
    (outcome,) = run(pipeline, [VIEW])
    assert outcome.record is not None
    assert outcome.record["_dq"]["anomaly_score"] == 0.95
    expected = 1 - DEFAULT_WEIGHTS["anomaly"] * 0.95 / (1 - DEFAULT_WEIGHTS["consistency"])
    assert outcome.record["_dq"]["quality_score"] == pytest.approx(expected, abs=1e-4)
    scorer.close_window()
    assert scorer.dimensions()["anomaly"] == 0.0  # 0.95 >= the 0.8 threshold


def test_composite_is_the_weighted_mean_of_the_dimensions() -> None:
    catalogue = {"p1": {"price": 10.0, "currency": "EUR"}}
    scorer, pipeline = scored(catalogue=catalogue)
    assert scorer.score() is None  # nothing yet
    run(
        pipeline,
        [
            VIEW,
            {**VIEW, "event_id": "e2", "product_id": "ghost"},
            {**VIEW, "event_id": "e2"},  # duplicate
            {"event_id": "e9"},  # quarantined: missing fields
            {**VIEW, "event_id": "e3", "ts": int((NOW + 600) * 1000)},  # from the future
        ],
    )
    scorer.close_window()
    dims = scorer.dimensions()
    assert dims["validity"] == 0.75  # 3 of 4 non-duplicates
    assert dims["uniqueness"] == 0.8
    assert dims["timeliness"] == pytest.approx(2 / 3)  # of the 3 clean records
    assert dims["consistency"] == pytest.approx(2 / 3)
    assert dims["anomaly"] is None  # no anomaly engine: left out of the composite
    expected = sum(DEFAULT_WEIGHTS[d] * dims[d] for d in DIMENSIONS if dims[d] is not None)  # type: ignore[operator]
    expected /= sum(DEFAULT_WEIGHTS[d] for d in DIMENSIONS if dims[d] is not None)
    assert scorer.score() == pytest.approx(expected)
    snap = scorer.snapshot()
    assert snap.composite == pytest.approx(expected, abs=1e-4)
    assert snap.future_events == 1 and snap.late_events == 0
    assert 0.0 <= snap.composite <= 1.0


def test_windows_close_by_count_and_by_time() -> None:
    now = [NOW]
    scorer = QualityScorer("behavior", clock=lambda: now[0], window=3, max_window_s=5)
    pipeline = RecordPipeline("behavior", clock=lambda: now[0], observers=[scorer])
    run(pipeline, [VIEW, {"event_id": "x"}])
    assert scorer.dimensions()["validity"] is None  # window still open
    scorer.tick()
    assert scorer.dimensions()["validity"] is None  # not old enough
    now[0] += 5
    scorer.tick()
    assert scorer.dimensions()["validity"] == 0.5
    run(pipeline, [VIEW, VIEW, VIEW])  # 3 records: closes on its own
    assert scorer.snapshot().dimensions["uniqueness"] is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"validity": 1.0}}, "weights"),
        ({"corrected_score": 1.5}, "corrected_score"),
        ({"window": 0}, "window"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityScorer("behavior", **kwargs)


def generated(count: int, seed: int, faults: FaultMix | None) -> list[bytes]:
    return [r.value for r in generate("behavior", count, seed=seed, faults=faults, start=START)]


def test_a_fault_burst_raises_quality_drop_findings() -> None:
    scorer, pipeline = scored(window=100, detector_min_windows=10)
    records: list[dict[str, Any] | bytes] = []
    records += generated(3000, seed=1, faults=FaultMix.uniform(0.05, "behavior"))
    run(pipeline, records)
    assert scorer.drain_findings() == []
    burst = FaultMix(behavior={"missing_user_id": 0.6})
    run(pipeline, generated(600, seed=2, faults=burst))
    findings = scorer.drain_findings()
    assert findings, "a 60% burst of missing user_id went unnoticed"
    by_dimension = {(f["dimension"], f["field"]): f for f in findings}
    assert ("validity", None) in by_dimension
    assert ("completeness", "user_id") in by_dimension
    validity = by_dimension["validity", None]
    assert set(validity) >= {
        "kind", "stream", "field", "severity", "statistic", "threshold", "window",
        "examples", "position", "detected_at",
    }  # fmt: skip
    assert validity["kind"] == "quality_drop" and validity["stream"] == "behavior"
    assert validity["statistic"] < validity["threshold"] - 0.3
    assert validity["severity"] == "critical"
    assert validity["position"]["topic"] == "events.behavior"
    assert "missing_field:user_id" in validity["examples"][-1]["detail"]
    user_id = by_dimension["completeness", "user_id"]
    assert user_id["examples"][-1]["detail"] == "missing user_id"
    assert scorer.drain_findings() == []  # drained
    assert scorer.snapshot().findings == len(findings)


def test_a_steady_faulty_stream_raises_nothing() -> None:
    scorer, pipeline = scored(window=100, detector_min_windows=10)
    run(pipeline, generated(8000, seed=3, faults=FaultMix.uniform(0.1, "behavior")))
    assert scorer.drain_findings() == []
    snap = scorer.snapshot()
    assert snap.composite is not None and 0.8 < snap.composite < 1.0


def test_metrics_export_every_score_with_bounded_labels() -> None:
    registry = CollectorRegistry()
    metrics = QualityMetrics(registry)
    scorer, pipeline = scored(catalogue={})
    run(pipeline, [VIEW, {**VIEW, "event_id": "e2", "ts": int((NOW - 3600) * 1000)}])
    scorer.close_window()
    metrics.observe(scorer.snapshot())
    metrics.observe(scorer.snapshot())  # counters do not double-count

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"stream": "behavior", **labels})

    assert value("streamguard_quality_score", dimension="composite", field="_all") == (
        scorer.snapshot().composite
    )
    assert value("streamguard_quality_score", dimension="timeliness", field="_all") == 0.5
    assert value("streamguard_quality_score", dimension="consistency", field="_all") == 0.0
    assert value("streamguard_quality_score", dimension="completeness", field="user_id") == 1.0
    assert value("streamguard_quality_late_events_total") == 1.0
    assert value("streamguard_quality_event_lag_seconds") == pytest.approx(1800.0)
    fields = {
        s.labels["field"]
        for m in registry.collect()
        for s in m.samples
        if s.name == "streamguard_quality_score"
    }
    assert fields <= set(BehaviorEvent.model_fields) | {"_all"}


def test_on_decoded_does_not_mutate_or_keep_the_record() -> None:
    scorer = QualityScorer("behavior", clock=lambda: NOW)
    record = {**VIEW, "platform": "", "extra": {"nested": [1, 2]}}
    before = copy.deepcopy(record)
    scorer.on_decoded(record, SourcePosition("t", 0, 0))
    assert record == before
    record["user_id"] = None  # repair mutates it next: the scorer must not see that
    scorer.on_decoded({**VIEW, "event_id": "e2"}, SourcePosition("t", 0, 1))
    scorer.close_window()
    assert scorer.snapshot().fields["user_id"] == 1.0


def test_pickling_round_trips_and_the_same_input_gives_the_same_scores() -> None:
    values = generated(1500, seed=5, faults=FaultMix.uniform(0.2, "behavior"))
    snapshots = []
    for _ in range(2):
        scorer, pipeline = scored(window=100)
        run(pipeline, values[:700])
        clone = pickle.loads(pickle.dumps(scorer))  # noqa: S301 - our own object
        assert clone.snapshot() == scorer.snapshot()
        run(pipeline, values[700:])
        snapshots.append(scorer.snapshot())
    assert snapshots[0] == snapshots[1]


@pytest.mark.parametrize(
    ("ts", "on_time"),
    [
        ("2026-11-01T00:02:00.000Z", True),  # the pipeline's own format
        ("2026-11-01T00:01:59.999Z", True),  # same second prefix cached, other millis
        ("2026-11-01T01:02:00+01:00", True),  # any RFC 3339 still works
        ("2026-10-31T23:00:00.000Z", False),  # an hour late
        ("not a time", None),
        (1_800_000_000_000, None),
    ],
)
def test_event_time_parsing(ts: Any, on_time: bool | None) -> None:
    scorer = QualityScorer("product", clock=fixed_now)
    scorer.on_clean({"ts": "2026-11-01T00:02:00.500Z", "_dq": {}}, SourcePosition("t", 0, 0))
    scorer.on_clean({"ts": ts, "_dq": {}}, SourcePosition("t", 0, 1))
    snap = (scorer.close_window(), scorer.snapshot())[1]
    expected = 1.0 if on_time is None else (1.0 + float(on_time)) / 2
    assert snap.dimensions["timeliness"] == expected
