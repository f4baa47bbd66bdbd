"""A quality drop stays active while the dimension stays below its pre-drop level, even
though Page-Hinkley starts over after a detection (item 6)."""

from __future__ import annotations

from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.quality import DropDetector, QualityScorer
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate


def test_the_drop_stays_active_until_the_level_comes_back() -> None:
    d = DropDetector(min_windows=5, threshold=0.3)
    for _ in range(20):
        assert d.learn_one(1.0) is None
    drop = d.learn_one(0.5)
    assert drop is not None and d.active == drop
    for _ in range(50):  # Page-Hinkley reset at the drop and learns the low level
        d.learn_one(0.5)
        assert d.active is not None and d.active.baseline == 1.0
    d.learn_one(0.97)  # back within min_drop of the level before the drop
    assert d.active is None


def test_the_scorer_reports_active_drops_until_the_dimension_recovers() -> None:
    now = [1_800_000_000.0]
    scorer = QualityScorer("behavior", clock=lambda: now[0], window=100, detector_min_windows=10)
    pipeline = RecordPipeline("behavior", clock=lambda: now[0], observers=[scorer])
    burst = FaultMix(behavior={"missing_user_id": 0.7})
    phases = [(2000, None, 11), (3000, burst, 12), (1000, None, 13)]
    seen: list[set[tuple[str, str | None, str | None]]] = []
    offset = 0
    for count, faults, seed in phases:
        for record in generate("behavior", count, seed=seed, faults=faults):
            pipeline.process(record.value, SourcePosition("events.behavior", 0, offset))
            offset += 1
            now[0] += 0.01
        seen.append({(s.kind, s.field, s.dimension) for s in scorer.active_signals()})
    calm, broken, recovered = seen
    assert calm == set()
    assert ("quality_drop", "user_id", "completeness") in broken
    assert recovered == set()
