"""The Bernoulli CUSUM shared by the stray and gradual-drift detectors (``drift/cusum.py``).

The unit tests pin the test's episode states; the regression tests pin what the two
detectors found on four synthetic feeds before the CUSUM was extracted from them (the
values below were recorded from the previous implementation: offsets, severities,
statistics, windows, how long the signal stayed active, and the final sum and
background), so the extraction changed no finding.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pytest

from streamguard.drift.contamination import ContaminationDetector
from streamguard.drift.cusum import BernoulliCusum
from streamguard.drift.gradual import GradualDriftDetector
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

Vector = npt.NDArray[np.float32]


class Detector(Protocol):
    @property
    def statistic(self) -> float: ...
    def background(self) -> float: ...
    def active_signal(self) -> Signal | None: ...
    def acknowledge(self) -> None: ...
    def update(self, text: str, vector: Vector, position: SourcePosition) -> Finding | None: ...


def zero() -> float:
    return 0.0


# --- the CUSUM --------------------------------------------------------------------------


def test_quiet_stream_learns_its_background_and_never_fires() -> None:
    test = BernoulliCusum(bound=12.0)
    states = {test.update(i % 50 == 0) for i in range(5000)}
    assert states == {"quiet"}
    assert test.background() == pytest.approx(0.02, abs=0.002)
    assert not test.open


def test_a_rise_fires_once_stays_open_then_clears() -> None:
    test = BernoulliCusum(bound=12.0)
    for i in range(2000):
        test.update(i % 100 == 0)
    learnt = test.background()
    states = [test.update(i % 5 == 0) for i in range(300)]
    assert states.count("fired") == 1
    fired = states.index("fired")
    assert set(states[fired + 1 :]) == {"open"}
    assert 12.0 < test.statistic <= 1.5 * 12.0
    # learnt only until the sum passed half the bound: nowhere near the new 20%
    assert learnt < test.background() < 2 * learnt
    p0, p1 = test.rates
    assert p0 == test.background() and p1 == pytest.approx(max(4 * p0, p0 + 0.02))
    assert {test.update(True) for _ in range(100)} == {"open"}
    assert test.statistic == 1.5 * 12.0  # capped: it clears soon after the events stop
    after = [test.update(False) for _ in range(2000)]
    assert after.count("cleared") == 1 and after[-1] == "quiet" and test.statistic == 0.0


def test_reset_ends_the_episode_and_keeps_the_background() -> None:
    test = BernoulliCusum(bound=5.0, min_shift=0.05)
    for i in range(1000):
        test.update(i % 100 == 0)
    while test.update(True) != "fired":
        pass
    background = test.background()
    test.reset()
    assert test.statistic == 0.0 and not test.open and test.background() == background
    assert test.update(False) == "quiet"


@pytest.mark.parametrize(
    "options",
    [{"min_rate": 0.0}, {"min_rate": 1.0}, {"rate_ratio": 1.0}, {"bound": 0.0}, {"cap": 0.5}],
)
def test_rejects_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BernoulliCusum(**options)


# --- the detectors: unchanged by the extraction -------------------------------------------

WORDS = ["red", "blue", "steel", "oak", "lamp", "chair", "desk", "mug", "soft", "tall"]
PATHS = [
    "home/kitchen",
    "toys/games",
    "books/fiction",
    "fashion/shoes",
    "beauty/skincare",
    "garden/tools",
]


def boilerplate(seed: int, n: int, start: int, slope: int, stop: int | None = None) -> list[str]:
    """Free text, then "TBD TBD TBD" rising linearly from ``start`` (gone from ``stop``)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        share = 0.0 if stop is not None and i >= stop else max(0.0, (i - start) / slope)
        # (the draw of rng.choice is part of the recorded feed)
        text = rng.choice(["TBD TBD TBD"]) if rng.random() < share else None
        out.append(text or " ".join(rng.sample(WORDS, 4)))
    return out


def strays(seed: int, n: int, start: int, every: int, stop: int | None = None) -> list[str]:
    """Categories, then one title in ``every`` values from ``start`` (until ``stop``)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bad = i >= start and (stop is None or i < stop) and rng.random() < 1 / every
        out.append(f"Zentek Phone {i} with case" if bad else rng.choice(PATHS))
    return out


def summary(
    detector: Detector,
    texts: Sequence[str],
    embed: Callable[[Sequence[str]], Vector],
    acknowledge_at: tuple[int, ...] = (),
) -> tuple[list[tuple[int, str, float, dict[str, Any]]], int, float, float]:
    """Findings (offset, severity, statistic, window), values with an active signal, the
    final sum and background."""
    found: list[tuple[int, str, float, dict[str, Any]]] = []
    active = 0
    for i, text in enumerate(texts):
        if i in acknowledge_at:
            detector.acknowledge()
        finding = detector.update(text, embed([text])[0], SourcePosition("t", 0, i))
        if finding is not None:
            found.append((i, finding.severity, round(finding.statistic, 6), finding.window))
        active += detector.active_signal() is not None
    return found, active, round(detector.statistic, 6), round(detector.background(), 6)


def test_gradual_findings_unchanged_with_a_rebaseline() -> None:
    detector = GradualDriftDetector("p", "d", clock=zero, rebaseline_values=300)
    got = summary(detector, boilerplate(3, 4000, 800, 2000), HashingEmbedder(dim=256).embed)
    window = {"reference": 486, "recent": 181, "background_rate": 0.01014}
    assert got == (
        [(1019, "warning", 12.746113, window), (1319, "info", 17.750413, {"values": 300})],
        300,
        0.0,
        0.002,
    )


def test_gradual_findings_unchanged_when_the_drift_stops() -> None:
    detector = GradualDriftDetector("p", "d", clock=zero)
    got = summary(detector, boilerplate(4, 5000, 800, 1500, 1800), HashingEmbedder(dim=256).embed)
    window = {"reference": 477, "recent": 123, "background_rate": 0.00884}
    assert got == ([(954, "warning", 12.022085, window)], 1431, 0.0, 0.002)


def test_contamination_findings_unchanged_with_acknowledgements() -> None:
    detector = ContaminationDetector("p", "c", clock=zero)
    texts = strays(2, 4000, 900, 5)
    got = summary(detector, texts, HashingEmbedder(dim=64).embed, acknowledge_at=(1400, 2500))
    assert got == (
        [
            (991, "warning", 13.221058, {"reference": 6, "recent": 41, "known_values": 21,
                                         "background_rate": 0.00374}),
            (1424, "warning", 12.62981, {"reference": 6, "recent": 23, "known_values": 116,
                                         "background_rate": 0.00946}),
            (2553, "warning", 12.351835, {"reference": 6, "recent": 47, "known_values": 335,
                                          "background_rate": 0.01456}),
        ],
        2932,
        18.0,
        0.014563,
    )  # fmt: skip


def test_contamination_findings_unchanged_when_the_strays_stop() -> None:
    detector = ContaminationDetector("p", "c", clock=zero)
    got = summary(detector, strays(1, 5000, 1000, 6, 1600), HashingEmbedder(dim=64).embed)
    window = {"reference": 6, "recent": 42, "known_values": 24, "background_rate": 0.0033}
    assert got == ([(1092, "warning", 13.835086, window)], 1442, 0.0, 0.002)
