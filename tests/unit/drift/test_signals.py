"""Drift signals say when their condition has actually cleared (item 6).

Schema drift keeps reporting a presence or type change while it persists and clears when
it is gone; semantic drift keeps comparing with the pre-drift reference until the change
clears or persists long enough to be accepted as the new normal (re-baseline)."""

from __future__ import annotations

from typing import Any

from streamguard.drift import SchemaDriftDetector, SemanticDriftDetector
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition

EMBED = HashingEmbedder(dim=128).embed
CATEGORIES = ["home/kitchen", "toys/games", "books/fiction", "fashion/shoes", "beauty/skincare",
              "sports/outdoor", "grocery/snacks", "electronics/phones"]  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schema(clock: Clock) -> SchemaDriftDetector:
    return SchemaDriftDetector(
        "behavior", ["event_id", "event_type", "product_id", "price"],
        group_field="event_type", group_values=("view", "purchase"), clock=clock,
    )  # fmt: skip


def event(i: int, *, price: bool = True, extra: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {"event_id": str(i), "event_type": "view", "product_id": "p"}
    if price:
        record["price"] = 1.0
    if extra:
        record["utm_source"] = "mail"
    return record


def test_a_missing_field_stays_active_while_it_persists_and_clears_when_it_returns() -> None:
    clock = Clock()
    d = schema(clock)
    found = [f for i in range(500) for f in d.update(event(i), SourcePosition("t", 0, i))]
    assert found == [] and d.active_signals() == []
    for i in range(500, 5000):
        clock.now += 1
        found += d.update(event(i, price=False), SourcePosition("t", 0, i))
        if i >= 600:
            (signal,) = d.active_signals()
            assert (signal.kind, signal.field, signal.statistic) == ("schema_drift", "price", 1.0)
            assert signal.since == found[0].detected_at
    assert len(found) == 1  # one finding for the episode, the signal says it goes on
    for i in range(5000, 5100):
        d.update(event(i), SourcePosition("t", 0, i))
    assert d.active_signals() == []


def test_a_new_field_stays_active_while_it_keeps_appearing() -> None:
    d = schema(Clock())
    for i in range(3000):
        d.update(event(i, extra=i >= 1000 and i % 3 == 0), SourcePosition("t", 0, i))
    assert [(s.field, s.details["change"]) for s in d.active_signals()] == [
        ("utm_source", "new_field:utm_source")
    ]
    for i in range(3000, 3300):
        d.update(event(i), SourcePosition("t", 0, i))
    assert d.active_signals() == []


def run(detector: SemanticDriftDetector, texts: list[str], start: int = 0) -> list[Any]:
    found = []
    for i, (text, vector) in enumerate(zip(texts, EMBED(texts), strict=True)):
        finding = detector.update(text, vector, SourcePosition("t", 0, start + i))
        if finding is not None:
            found.append(finding)
    return found


def normal(n: int, seed: int = 0) -> list[str]:
    return [CATEGORIES[(i * 7 + seed) % len(CATEGORIES)] for i in range(n)]


def titles(n: int, start: int = 0) -> list[str]:
    return [f"Zentek ultra phone {i} with {i % 5} cameras" for i in range(start, start + n)]


def test_semantic_drift_is_not_absorbed_before_it_clears() -> None:
    d = SemanticDriftDetector("product", "category", clock=lambda: 0.0)
    assert run(d, normal(1200)) == []
    first = run(d, titles(800), 1200)
    assert len(first) == 1 and d.active_signal() is not None
    assert run(d, normal(600, seed=3), 2000) == [] and d.active_signal() is None
    again = run(d, titles(600), 2600)  # the same change again: still not normal
    assert len(again) == 1


def test_semantic_drift_that_persists_is_accepted_after_rebaseline_blocks() -> None:
    d = SemanticDriftDetector("product", "category", rebaseline_blocks=10, clock=lambda: 0.0)
    run(d, normal(1200))
    found = run(d, titles(1500), 1200)
    assert [f.severity for f in found][1:] == ["info"] and found[0].severity != "info"
    assert found[1].details["rebaselined"] is True
    assert 2000 <= found[1].position.offset < 2400  # ~10 blocks after the first finding
    assert d.active_signal() is None  # cleared by accepting the change
    assert run(d, titles(600, 1500), 2700) == []  # the new normal
