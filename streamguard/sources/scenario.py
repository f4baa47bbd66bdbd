"""A scripted traffic scenario: phases in time, each with its fault mix and its drift.

``streamguard demo`` plays :func:`demo_scenario` by default: healthy traffic, a fault
burst on behaviour events, a semantic drift on product descriptions (a vendor feed whose
descriptions turn into a placeholder template), then recovery. A :class:`ScenarioSource`
yields the records; which phase applies is read from the ``elapsed`` clock it is given
(seconds since the scenario started), so nothing here reads the wall clock and a test can
step through the phases. Same seed and same clock readings, same bytes.

Examples
--------
>>> scenario = demo_scenario()
>>> [(p.name, p.start_s) for p in scenario.phases]
[('healthy', 0.0), ('fault burst', 15.0), ('semantic drift', 27.0), ('recovery', 40.0)]
>>> scenario.phase_at(20.0).name, scenario.phase_at(1e6).name
('fault burst', 'recovery')
>>> now = [0.0]
>>> source = ScenarioSource(scenario, seed=1, elapsed=lambda: now[0], catalogue_size=50)
>>> [source.next_record().stream for _ in range(50)] == ["product"] * 50  # the catalogue
True
>>> healthy = [source.next_record() for _ in range(300)]
>>> sum(r.fault is not None for r in healthy if r.stream == "behavior") < 20
True
>>> now[0] = 20.0  # the burst: most behaviour events are broken
>>> burst = [source.next_record() for _ in range(300)]
>>> sum(r.expected == "quarantine" for r in burst if r.stream == "behavior") > 100
True
>>> now[0] = 30.0  # the drift: product descriptions become a placeholder template
>>> import orjson
>>> drifted = [orjson.loads(r.value) for r in (source.next_record() for _ in range(300))
...            if r.stream == "product" and r.fault is None]
>>> drifted[0]["description"].startswith("Item #"), drifted[0]["title"][:1].isupper()
(True, True)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamguard.sources.faults import FaultInjector, FaultMix, GeneratedRecord, Stream
from streamguard.sources.synthetic import (
    DEFAULT_START,
    BehaviorSimulator,
    Catalogue,
    EventClock,
    ProductSimulator,
)

__all__ = [
    "BURST_FAULTS",
    "DRIFTS",
    "Phase",
    "Scenario",
    "ScenarioSource",
    "demo_scenario",
    "placeholder_description",
]

#: The behaviour fault burst: ~60% of behaviour records broken in four ways (a producer
#: that sends an unknown event type and drops fields), so several quality signals move.
BURST_FAULTS: Mapping[str, float] = {
    "unknown_event_type": 0.25,
    "missing_user_id": 0.15,
    "missing_ts": 0.10,
    "wrong_type": 0.10,
}


def placeholder_description(event: dict[str, Any], index: int) -> dict[str, Any]:
    """A vendor feed that lost its descriptions: a placeholder template with numbers in it.

    >>> placeholder_description({"description": "A red kettle."}, 3)["description"]
    'Item #3 - no description available, see SKU 21.'
    >>> placeholder_description({"op": "delete"}, 3)
    {'op': 'delete'}
    """
    if "description" in event:
        event["description"] = (
            f"Item #{index % 997} - no description available, see SKU {index * 7}."
        )
    return event


#: Drifts a phase may apply to clean product events, by name: ``(event, index) -> event``.
DRIFTS: Mapping[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "placeholder_description": placeholder_description,
}


@dataclass(frozen=True)
class Phase:
    """One stretch of the scenario, from ``start_s`` until the next phase starts.

    ``faults``: the fault mix of the phase; ``product_drift``: a name in :data:`DRIFTS`
    applied to every product event before faults are injected (``None``: none).
    """

    name: str
    start_s: float
    description: str
    faults: FaultMix = field(default_factory=FaultMix.none)
    product_drift: str | None = None

    def __post_init__(self) -> None:
        if self.product_drift is not None and self.product_drift not in DRIFTS:
            raise ValueError(f"unknown drift {self.product_drift!r}; known: {sorted(DRIFTS)}")


@dataclass(frozen=True)
class Scenario:
    """Phases in time order, the first starting at 0; the last lasts until the end."""

    phases: Sequence[Phase]
    product_share: float = 0.1

    def __post_init__(self) -> None:
        starts = [p.start_s for p in self.phases]
        if not starts or starts[0] != 0.0 or starts != sorted(starts):
            raise ValueError("phases must start at 0 s and be in time order")
        if not 0.0 <= self.product_share <= 1.0:
            raise ValueError("product_share must be in [0, 1]")

    def phase_at(self, elapsed_s: float) -> Phase:
        """The phase that holds ``elapsed_s`` seconds into the scenario."""
        current = self.phases[0]
        for phase in self.phases:
            if phase.start_s <= elapsed_s:
                current = phase
        return current

    @classmethod
    def steady(cls, faults: FaultMix, product_share: float = 0.1) -> Scenario:
        """One phase for ever: steady traffic with ``faults`` (``--scenario none``)."""
        return cls([Phase("steady", 0.0, "steady traffic", faults)], product_share)


def demo_scenario(background_fault_rate: float = 0.02, product_share: float = 0.15) -> Scenario:
    """The demo's script; it fits the demo's 60 s default (recovery lasts until the end).

    Healthy phases carry a trickle of faults (``background_fault_rate``, spread over every
    kind), as real traffic does. The product stream gets ``product_share`` of the records
    so semantic drift learns its reference within the healthy phase.
    """
    background = FaultMix.uniform(background_fault_rate, "both")
    # The burst replaces the behaviour background (the product stream keeps its trickle).
    burst = FaultMix(behavior=BURST_FAULTS, product=background.product)
    return Scenario(
        [
            Phase("healthy", 0.0, "healthy traffic: the monitors learn what normal is", background),
            Phase(
                "fault burst",
                15.0,
                "a broken producer: ~60% of behaviour events fail validation",
                burst,
            ),
            Phase(
                "semantic drift",
                27.0,
                "a vendor feed: product descriptions become a placeholder template",
                background,
                product_drift="placeholder_description",
            ),
            Phase("recovery", 40.0, "both streams healthy again", background),
        ],
        product_share=product_share,
    )


class ScenarioSource:
    """Records of both streams following a :class:`Scenario` (see the module docstring).

    ``elapsed``: seconds since the scenario started, read once per record. Event time
    starts at ``start_ms`` (epoch millis; default
    :data:`~streamguard.sources.synthetic.DEFAULT_START`) and advances ``mean_gap_ms``
    per record on average: pass the wall clock and ``1000 / rate`` for live traffic.
    With ``preload_catalogue`` the first ``catalogue_size`` records are the catalogue's
    products (one upsert each).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        elapsed: Callable[[], float],
        start_ms: int | None = None,
        mean_gap_ms: float = 10.0,
        catalogue_size: int = 500,
        preload_catalogue: bool = True,
        users: int = 5000,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self._elapsed = elapsed
        self._rng = random.Random(f"{seed}:streams")  # noqa: S311 - test data, not crypto
        if start_ms is None:
            start_ms = int(DEFAULT_START.timestamp() * 1000)
        clock = EventClock(random.Random(f"{seed}:clock"), start_ms, mean_gap_ms)  # noqa: S311
        catalogue = Catalogue(seed, catalogue_size)
        self._behavior = BehaviorSimulator(seed, catalogue, clock, users=users)
        self._products = ProductSimulator(seed, catalogue, clock)
        self._injectors: dict[int, FaultInjector] = {}
        self._drifted = 0
        # A shop's first sync: every catalogue product once, before any behaviour event,
        # so the behaviour stream's catalogue join (consistency) has what it refers to.
        self._preload = catalogue_size if preload_catalogue else 0

    def _injector(self, phase: Phase) -> FaultInjector:
        key = id(phase)
        if key not in self._injectors:
            index = list(self.scenario.phases).index(phase)
            self._injectors[key] = FaultInjector(phase.faults, seed=self.seed * 1000 + index)
        return self._injectors[key]

    def next_record(self) -> GeneratedRecord:
        """The next record, shaped by the phase the clock is in."""
        phase = self.scenario.phase_at(self._elapsed())
        which: Stream = (
            "product" if self._rng.random() < self.scenario.product_share else "behavior"
        )
        if self._preload > 0:
            self._preload -= 1
            which = "product"
        if which == "product":
            event = self._products.next_event()
            if phase.product_drift is not None:
                self._drifted += 1
                event = DRIFTS[phase.product_drift](event, self._drifted)
        else:
            event = self._behavior.next_event()
        return self._injector(phase).inject(which, event)

    def __iter__(self) -> Iterator[GeneratedRecord]:
        while True:
            yield self.next_record()
