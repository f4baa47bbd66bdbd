"""Contamination of a low-cardinality field: a *fraction* of records carry values that
do not belong (titles mapped into ``category`` by one of several upstream services).

The out-of-support share of :mod:`~streamguard.drift.semantic_drift` needs a quarter of a
block to move; 15% contamination never does. Here every such value is evidence, however
few, and a sequential test lets the evidence add up:

* **Known values.** A field is followed only if it is low-cardinality: after ``warmup``
  values, at most ``max_distinct_share`` of them distinct (categories, brands, enums).
  Every value seen joins the known set (at most ``max_known``; then it stops growing).
* **The event: a stray.** A value never seen before, farther from every reference value
  than the reference's values lie from one another (``far``: the largest leave-one-out
  nearest-neighbour distance of the warm-up's values × ``radius_margin``), that does
  **not recur** within the next ``recur_window`` values of the field. A new category in
  a sorted feed or a bulk load arrives as a run (it recurs at once): not a stray. A
  contaminating title is unique: a stray.
* **The test.** A Bernoulli CUSUM (:class:`~streamguard.drift.cusum.BernoulliCusum`) per
  value (0: known, or a new value that recurred; 1: a stray) of the stray rate
  ``p1 = max(rate_ratio × p0, p0 + min_shift)`` against the background ``p0``: the
  stream's own stray rate since warm-up (learnt only while the CUSUM sits below half
  its bound; at least ``min_rate``). It fires when the sum passes ``bound``
  (log-likelihood ratio; ~e^bound values between false alarms under the null).
* **Episodes.** A finding opens an episode (a ``semantic_drift`` finding with
  ``details["statistic_name"] == "stray_rate"``), its signal stays active until the sum
  falls back to zero (it is capped at 1.5 × ``bound``: with the default rates ~900 clean
  values after the strays stop), or :meth:`ContaminationDetector.acknowledge` accepts it.

Per value: one dict look-up; a new value adds one product against the (small) reference,
in the embedding thread that feeds the detector.

Examples
--------
>>> import numpy as np
>>> from streamguard.embed.hashing import HashingEmbedder
>>> from streamguard.events.records import SourcePosition
>>> embed = HashingEmbedder(dim=64).embed
>>> d = ContaminationDetector("product", "category", clock=lambda: 0.0)
>>> paths = ["home/kitchen", "toys/games", "books/fiction", "fashion/shoes", "beauty/skincare"]
>>> found = []
>>> for i in range(2000):
...     text = paths[i % 5] if i < 1000 or i % 7 else f"Zentek Phone {i} with case"
...     found.append(d.update(text, embed([text])[0], SourcePosition("t", 0, i)))
>>> hit = next(f for f in found if f is not None)
>>> hit.details["statistic_name"], 1000 < hit.position.offset < 1300
('stray_rate', True)
>>> d.active_signal().field
'category'
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from streamguard.drift.cusum import BernoulliCusum, CusumDetector
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["ContaminationDetector"]

Vector = npt.NDArray[np.float32]


class ContaminationDetector(CusumDetector):
    """A CUSUM on the rate of stray values in a low-cardinality field (module docstring)."""

    def __init__(
        self,
        stream: str,
        field: str,
        *,
        warmup: int = 300,
        max_distinct_share: float = 0.2,
        max_known: int = 5000,
        reference_size: int = 500,
        radius_margin: float = 1.15,
        recur_window: int = 50,
        rate_ratio: float = 4.0,
        min_shift: float = 0.02,
        min_rate: float = 0.002,
        bound: float = 12.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if warmup < 10 or recur_window < 1 or bound <= 0:
            raise ValueError("need warmup >= 10, recur_window >= 1, bound > 0")
        if not 0.0 < min_rate < 1.0 or rate_ratio <= 1.0:
            raise ValueError("need 0 < min_rate < 1 and rate_ratio > 1")
        self.stream = stream
        self.field = field
        self.warmup = warmup
        self.max_distinct_share = max_distinct_share
        self.max_known = max_known
        self.reference_size = reference_size
        self.radius_margin = radius_margin
        self.recur_window = recur_window
        self.rate_ratio = rate_ratio
        self.min_shift = min_shift
        self.min_rate = min_rate
        self.bound = bound
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._ref_texts: list[str] = []
        self._ref_vectors: list[Vector] = []
        self._ref_matrix: Vector | None = None
        self._far = 1.0
        self._values = 0
        self._armed: bool | None = None  # None: still warming up; False: not low-cardinality
        # new far values waiting to see whether they recur: (value index, text)
        self._pending: deque[tuple[int, str]] = deque()
        self._test = BernoulliCusum(
            rate_ratio=rate_ratio, min_shift=min_shift, min_rate=min_rate, bound=bound
        )
        self._since_zero = 0
        self._signal: Signal | None = None
        self._recent: deque[str] = deque(maxlen=3)
        self.strays = 0

    def acknowledge(self) -> None:
        """Accept the strays: the sum restarts at zero and the episode ends."""
        self._test.reset()
        self._signal = None

    def update(self, text: str, vector: Vector, position: SourcePosition) -> Finding | None:
        """Add one value; returns a finding when the stray rate has risen."""
        index = self._values
        self._values += 1
        seen = self._counts.get(text)
        if seen is not None:
            self._counts[text] = seen + 1
        elif len(self._counts) < self.max_known:
            self._counts[text] = 1
        if self._armed is None:
            if seen is None and len(self._ref_texts) < self.reference_size:
                self._ref_texts.append(text)
                self._ref_vectors.append(np.asarray(vector, np.float32))
            if self._values >= self.warmup and len(self._counts) >= 2:
                self._arm()  # (a feed that opens with one value warms up until a second)
            return None
        if not self._armed:
            return None
        finding: Finding | None = None
        if seen is None and self._is_far(vector):
            self._pending.append((index, text))
        else:
            finding = self._observe(0, position)
        while self._pending and self._pending[0][0] <= index - self.recur_window:
            _, old = self._pending.popleft()
            stray = self._counts.get(old, 1) <= 1
            if stray:
                self.strays += 1
                self._recent.append(old)
            finding = self._observe(int(stray), position) or finding
        return finding

    def _arm(self) -> None:
        distinct = len(self._counts)
        self._armed = distinct <= self.max_distinct_share * self._values
        if not self._armed:
            self._ref_vectors.clear()
            return
        ref = np.vstack(self._ref_vectors)
        self._ref_matrix = ref
        self._ref_vectors.clear()
        sims = ref @ ref.T
        np.fill_diagonal(sims, -np.inf)
        loo = np.clip(1.0 - sims.max(axis=1), 0.0, 2.0)
        self._far = min(1.0, float(loo.max()) * self.radius_margin)

    def _is_far(self, vector: Vector) -> bool:
        assert self._ref_matrix is not None
        return float(1.0 - (self._ref_matrix @ vector).max()) > self._far

    def _observe(self, stray: int, position: SourcePosition) -> Finding | None:
        state = self._test.update(stray)
        if self._test.statistic == 0.0:
            self._since_zero = self._values  # the values the evidence came from start here
        if state == "cleared":
            self._signal = None
        elif state == "open":
            assert self._signal is not None
            self._signal = self._signal_now(self._signal.since)
        if state != "fired":
            return None
        p0, p1 = self._test.rates
        now = self._clock()
        self._signal = self._signal_now(now)
        return Finding(
            kind="semantic_drift",
            stream=self.stream,
            field=self.field,
            severity="warning",
            statistic=self._test.statistic,
            threshold=self.bound,
            window={
                "reference": len(self._ref_texts),
                "recent": self._values - self._since_zero,
                "known_values": len(self._counts),
                "background_rate": round(p0, 5),
            },
            examples=[f"before: {t}" for t in self._ref_texts[:3]]
            + [f"after: {t}" for t in self._recent],
            position=position,
            detected_at=now,
            summary=(
                f"{self.stream}.{self.field}: values far from every known one keep arriving "
                f"once each (rate above {p1:.1%} against a usual {p0:.2%})"
            ),
            details={"statistic_name": "stray_rate", "far_radius": round(self._far, 4),
                     "strays": self.strays},
        )  # fmt: skip

    def _signal_now(self, since: float) -> Signal:
        return Signal(
            "semantic_drift", self.stream, self.field, self._test.statistic, self.bound, since,
            details={"statistic_name": "stray_rate"},
        )  # fmt: skip
