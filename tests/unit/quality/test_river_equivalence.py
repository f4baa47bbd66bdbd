"""The quality package's own Page-Hinkley and EWMA give River's numbers, bit for bit
(kept out of River so that ``streamguard check`` does not import SciPy at start-up)."""

from __future__ import annotations

import random

import pytest
from river import stats
from river.drift import PageHinkley

from streamguard.quality.detector import PageHinkleyDown
from streamguard.quality.window import WindowedRate


def _stream(seed: float) -> list[float]:
    rng = random.Random(seed)
    values: list[float] = []
    level = 0.95
    for _ in range(40):
        level = min(1.0, max(0.0, level + rng.choice([0.0, 0.0, -0.2, 0.1, -0.05])))
        values += [min(1.0, max(0.0, rng.gauss(level, 0.02))) for _ in range(rng.randint(3, 30))]
    return values


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("min_instances", "delta", "threshold"), [(10, 0.005, 0.5), (3, 0.0, 0.2), (30, 0.01, 0.1)]
)
def test_same_detections_and_sums_as_river(
    seed: int, min_instances: int, delta: float, threshold: float
) -> None:
    ours = PageHinkleyDown(min_instances=min_instances, delta=delta, threshold=threshold)
    river = PageHinkley(min_instances=min_instances, delta=delta, threshold=threshold, mode="down")
    detections = 0
    for x in _stream(seed):
        ours.update(x)
        river.update(x)  # type: ignore[no-untyped-call]
        assert ours.drift_detected == river.drift_detected
        assert ours._sum_decrease == river._sum_decrease
        assert ours._max_decrease == river._max_decrease
        detections += ours.drift_detected
    assert detections > 0  # the streams do fall: the comparison covers detections


@pytest.mark.parametrize("fading_factor", [0.0, 0.1, 0.3, 0.5, 1.0])
def test_windowed_rate_ewma_is_rivers_ewmean(fading_factor: float) -> None:
    rate, river = WindowedRate(fading_factor), stats.EWMean(fading_factor)
    assert rate.get() is None
    for x in _stream(fading_factor * 10):
        rate.observe(x)
        river.update(x)
        assert rate.get() == river.get()


def test_check_imports_no_river_scipy_sklearn_or_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, streamguard.quality.scorer, streamguard.commands.check;"
        "print(sorted(m for m in ('river', 'sklearn', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
