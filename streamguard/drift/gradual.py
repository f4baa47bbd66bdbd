"""Gradual drift of a free-text field: a share of boilerplate values (far from
everything, repeated) that rises slowly, against a reference that does **not** follow
the stream.

:mod:`~streamguard.drift.semantic_drift` scores each block against a reference that takes
in every quiet block: a share that creeps up a few percent per block never looks new, and
its threshold rises with the last 100 blocks. Here:

* **A frozen reference.** The field's first ``warmup`` values (at most
  ``reference_size`` distinct ones) form the reference, and it stays as it is: nothing
  joins it until the drift is accepted (:meth:`GradualDriftDetector.acknowledge`, or an
  episode that lasted ``rebaseline_values`` values). Only free-text fields are followed
  (at least ``min_distinct_share`` of the warm-up's values distinct: descriptions, titles,
  queries; a category or a brand is followed by
  :mod:`~streamguard.drift.contamination`).
* **The event: an isolated far repeat.** A value farther from every reference value
  than ``far_factor`` × the largest leave-one-out nearest-neighbour distance inside the
  reference (within ``[min_far, max_far]``), just as far from the last ``neighbours``
  distinct values other than itself, that repeats a far value seen before (the same
  text, or one within ``dup_factor`` × that radius). Boilerplate ("Lorem ipsum…", "TBD
  TBD TBD") is far from everything and repeats. A department the reference has not seen
  (a catalogue sorted by category, a bulk load) may be far from it too, but its products
  arrive with near neighbours, each other: not isolated. So are templated texts that
  differ in a number and a new language: the block detector and the language detector
  find those. A far value seen once is not an event: real catalogues hold odd titles.
* **The test.** A Bernoulli CUSUM (:class:`~streamguard.drift.cusum.BernoulliCusum`) per
  value of the far-repeat rate ``p1 = max(rate_ratio × p0, p0 + min_shift)`` against the
  background ``p0``: the field's own rate since warm-up (learnt while the sum is below
  half its bound; at least ``min_rate``). It fires when the sum passes ``bound``
  (log-likelihood ratio). The evidence adds up with every value, so power grows with the
  sample: a rise from 0 to 50% over 2,500 values is found a few hundred values in, while
  its share is still ~5%.
* **Episodes.** A finding (``semantic_drift``, ``details["statistic_name"] ==
  "far_repeat_rate"``) opens an episode; its signal stays active until the sum is back to
  zero (capped at 1.5 × ``bound``), or the drift is accepted: by
  :meth:`~GradualDriftDetector.acknowledge` (the engine's
  :meth:`~streamguard.drift.engine.DriftEngine.acknowledge`), or after ``rebaseline_values``
  values of the episode (``0``: only by acknowledgement) with an ``info`` finding
  (``details["rebaselined"]``). Accepting adds the far values seen to the reference.

Per value: a dict look-up; a batch's values not seen before cost one product against
the frozen reference (:meth:`GradualDriftDetector.prime`), far ones one against the
``neighbours`` recent values and at most ``max_exemplars`` far exemplars; all in the
embedding thread that feeds the detector.

Examples
--------
>>> import random
>>> from streamguard.embed.hashing import HashingEmbedder
>>> from streamguard.events.records import SourcePosition
>>> embed = HashingEmbedder(dim=256).embed
>>> rng = random.Random(0)
>>> words = ["red", "blue", "steel", "oak", "lamp", "chair", "desk", "mug", "soft", "tall"]
>>> d = GradualDriftDetector("product", "description", clock=lambda: 0.0)
>>> found = []
>>> for i in range(3000):
...     share = max(0.0, (i - 1000) / 4000)  # boilerplate rising slowly from value 1,000
...     text = "TBD TBD TBD" if rng.random() < share else " ".join(rng.sample(words, 4))
...     found.append(d.update(text, embed([text])[0], SourcePosition("t", 0, i)))
>>> hit = next(f for f in found if f is not None)
>>> hit.details["statistic_name"], 1000 < hit.position.offset < 1500
('far_repeat_rate', True)
>>> d.acknowledge(); d.active_signal() is None
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from streamguard.drift.cusum import BernoulliCusum, CusumDetector
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["GradualDriftDetector"]

Vector = npt.NDArray[np.float32]


class GradualDriftDetector(CusumDetector):
    """A CUSUM on the rate of isolated far repeats against a frozen reference (module
    docstring)."""

    def __init__(
        self,
        stream: str,
        field: str,
        *,
        warmup: int = 500,
        min_distinct_share: float = 0.3,
        reference_size: int = 500,
        far_factor: float = 2.0,
        min_far: float = 0.3,
        max_far: float = 0.95,
        dup_factor: float = 0.5,
        max_exemplars: int = 256,
        neighbours: int = 200,
        rate_ratio: float = 4.0,
        min_shift: float = 0.03,
        min_rate: float = 0.002,
        bound: float = 12.0,
        rebaseline_values: int = 20_000,
        cache_size: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if warmup < 10 or reference_size < 2 or neighbours < 1 or bound <= 0:
            raise ValueError("need warmup >= 10, reference_size >= 2, neighbours >= 1, bound > 0")
        if rebaseline_values < 0:
            raise ValueError("need rebaseline_values >= 0")
        if not 0.0 < min_rate < 1.0 or rate_ratio <= 1.0 or not 0.0 < min_far <= max_far:
            raise ValueError("need 0 < min_rate < 1, rate_ratio > 1, 0 < min_far <= max_far")
        self.stream = stream
        self.field = field
        self.warmup = warmup
        self.min_distinct_share = min_distinct_share
        self.reference_size = reference_size
        self.far_factor = far_factor
        self.min_far = min_far
        self.max_far = max_far
        self.dup_factor = dup_factor
        self.max_exemplars = max_exemplars
        self.neighbours = neighbours
        self.rate_ratio = rate_ratio
        self.min_shift = min_shift
        self.min_rate = min_rate
        self.bound = bound
        self.rebaseline_values = rebaseline_values
        self.cache_size = cache_size
        self._clock = clock
        self._armed: bool | None = None  # None: warming up; False: not a free-text field
        self._values = 0
        self._warm: dict[str, Vector] = {}
        self._warm_values = 0
        self._reference: Vector | None = None
        self._reference_texts: list[str] = []
        self._base_rows = 0  # the warm-up's rows of the reference (accepted ones follow)
        self.far = 1.0
        self._is_far: dict[str, bool] = {}
        # far values seen so far: one vector per cluster of near-duplicates, its count
        self._exemplars: Vector | None = None  # max_exemplars rows, the first n in use
        self._exemplar_texts: list[str] = []
        self._exemplar_counts: list[int] = []
        # the last `neighbours` distinct values (a ring): what a far value must be far from
        self._ring: Vector | None = None
        self._ring_texts: list[str] = []
        self._ring_slots: dict[str, int] = {}
        self._ring_next = 0
        self._test = BernoulliCusum(
            rate_ratio=rate_ratio, min_shift=min_shift, min_rate=min_rate, bound=bound
        )
        self._since_zero = 0
        self._episode_values = 0
        self._signal: Signal | None = None
        self.events = 0

    def acknowledge(self) -> None:
        """Accept the drift: the far values seen join the reference (after the warm-up's
        values; the latest ``reference_size`` accepted ones are kept), the sum restarts
        at zero and the episode ends."""
        if self._reference is not None and self._exemplars is not None:
            base, kept = self._base_rows, self.reference_size
            accepted = np.vstack(
                [self._reference[base:], self._exemplars[: len(self._exemplar_texts)]]
            )[-kept:]
            self._reference = np.vstack([self._reference[:base], accepted])
            texts = self._reference_texts[base:] + self._exemplar_texts
            self._reference_texts = self._reference_texts[:base] + texts[-kept:]
        self._exemplars, self._exemplar_texts, self._exemplar_counts = None, [], []
        self._is_far.clear()
        self._test.reset()
        self._signal, self._episode_values = None, 0

    def update(self, text: str, vector: Vector, position: SourcePosition) -> Finding | None:
        """Add one value; returns a finding when the far-repeat rate has risen (or an
        ``info`` finding when a long episode is accepted as the new reference)."""
        self._values += 1
        if self._armed is None:
            self._warm_up(text, vector)
            return None
        if not self._armed:
            return None
        far = self._is_far.get(text)
        if far is None:
            far = self._far(vector)
            if len(self._is_far) >= self.cache_size:
                self._is_far.clear()
            self._is_far[text] = far
        event = far and self._isolated(text, vector) and self._repeats(text, vector)
        self._remember(text, vector)
        return self._observe(int(event), position)

    def prime(self, texts: Sequence[str], vectors: Vector) -> None:
        """Classify a batch's values not seen before against the reference in one matrix
        product (what :meth:`update` would do one value at a time; optional)."""
        if self._reference is None or not self._armed:
            return
        rows = {t: row for row, t in enumerate(texts) if t not in self._is_far}
        if not rows:
            return
        if len(self._is_far) + len(rows) > self.cache_size:
            self._is_far.clear()
        nearest = (vectors[list(rows.values())] @ self._reference.T).max(axis=1)
        for text, sim in zip(rows, nearest.tolist(), strict=True):
            self._is_far[text] = 1.0 - sim > self.far

    # --- reference ----------------------------------------------------------------------

    def _warm_up(self, text: str, vector: Vector) -> None:
        self._warm_values += 1
        if text not in self._warm and len(self._warm) < self.reference_size:
            self._warm[text] = np.asarray(vector, np.float32)
        if self._warm_values < self.warmup or len(self._warm) < 2:
            return
        self._armed = len(self._warm) >= self.min_distinct_share * min(
            self._warm_values, self.reference_size
        )
        if self._armed:
            ref = np.vstack(list(self._warm.values()))
            sims = ref @ ref.T
            np.fill_diagonal(sims, -np.inf)
            loo = float(np.clip(1.0 - sims.max(axis=1), 0.0, 2.0).max())
            self.far = min(self.max_far, max(self.min_far, self.far_factor * loo))
            self._reference, self._reference_texts = ref, list(self._warm)
            self._base_rows = len(ref)
        self._warm = {}

    def _far(self, vector: Vector) -> bool:
        assert self._reference is not None
        return float(1.0 - (self._reference @ vector).max()) > self.far

    def _isolated(self, text: str, vector: Vector) -> bool:
        """Whether a far value is far from the recent values other than itself too: a
        department the reference has not seen arrives with its own near neighbours (its
        products), boilerplate with none."""
        used = len(self._ring_texts)
        if self._ring is None or not used:
            return True
        sims = self._ring[:used] @ vector
        own = self._ring_slots.get(text)
        if own is not None:
            sims[own] = -np.inf
        return used == (own is not None) or 1.0 - float(sims.max()) > self.far

    def _remember(self, text: str, vector: Vector) -> None:
        """Keep the last ``neighbours`` distinct values (a ring)."""
        if text in self._ring_slots:
            return
        if self._ring is None:
            self._ring = np.zeros((self.neighbours, len(vector)), np.float32)
        slot = self._ring_next % self.neighbours
        self._ring_next += 1
        if slot < len(self._ring_texts):
            del self._ring_slots[self._ring_texts[slot]]
            self._ring_texts[slot] = text
        else:
            self._ring_texts.append(text)
        self._ring_slots[text] = slot
        self._ring[slot] = vector

    def _repeats(self, text: str, vector: Vector) -> bool:
        """Whether a far value repeats one seen before (and remember it either way)."""
        used = len(self._exemplar_texts)
        if self._exemplars is None:
            self._exemplars = np.zeros((self.max_exemplars, len(vector)), np.float32)
        elif used:
            sims = self._exemplars[:used] @ vector
            best = int(sims.argmax())
            if 1.0 - float(sims[best]) <= self.dup_factor * self.far:
                self._exemplar_counts[best] += 1
                return True
        if used < self.max_exemplars:
            self._exemplar_texts.append(text)
            self._exemplar_counts.append(1)
        else:  # full: the rarest makes room
            used = int(np.argmin(self._exemplar_counts))
            self._exemplar_texts[used], self._exemplar_counts[used] = text, 1
        self._exemplars[used] = vector
        return False

    # --- the test -----------------------------------------------------------------------

    def _observe(self, event: int, position: SourcePosition) -> Finding | None:
        self.events += event
        state = self._test.update(event)
        if self._test.statistic == 0.0:
            self._since_zero = self._values
        if state == "quiet":
            return None
        if state == "fired":
            now = self._clock()
            self._signal, self._episode_values = self._signal_now(now), 0
            return self._finding(*self._test.rates, position, now)
        return self._follow(state == "cleared", position)

    def _follow(self, cleared: bool, position: SourcePosition) -> Finding | None:
        """One more value of an open episode: still drifted, cleared, or accepted."""
        assert self._signal is not None
        self._episode_values += 1
        if cleared:
            self._signal = None
            return None
        self._signal = self._signal_now(self._signal.since)
        if not self.rebaseline_values or self._episode_values < self.rebaseline_values:
            return None
        values, statistic = self._episode_values, self._test.statistic
        recent = self._exemplar_texts[-3:]
        self.acknowledge()
        return Finding(
            kind="semantic_drift",
            stream=self.stream,
            field=self.field,
            severity="info",
            statistic=statistic,
            threshold=self.bound,
            window={"values": values},
            examples=[f"after: {t}" for t in recent],
            position=position,
            detected_at=self._clock(),
            summary=(
                f"{self.stream}.{self.field}: far values kept repeating for {values} values; "
                "accepted into the reference"
            ),
            details={"statistic_name": "far_repeat_rate", "rebaselined": True,
                     "values": values},
        )  # fmt: skip

    def _finding(self, p0: float, p1: float, position: SourcePosition, now: float) -> Finding:
        heavy = sorted(range(len(self._exemplar_texts)), key=lambda i: -self._exemplar_counts[i])[
            :3
        ]
        return Finding(
            kind="semantic_drift",
            stream=self.stream,
            field=self.field,
            severity="warning",
            statistic=self._test.statistic,
            threshold=self.bound,
            window={
                "reference": len(self._reference_texts),
                "recent": self._values - self._since_zero,
                "background_rate": round(p0, 5),
            },
            examples=[f"before: {t}" for t in self._reference_texts[:3]]
            + [f"after: {self._exemplar_texts[i]}" for i in heavy],
            position=position,
            detected_at=now,
            summary=(
                f"{self.stream}.{self.field}: values far from the reference keep repeating "
                f"(rate above {p1:.1%} against a usual {p0:.2%}): boilerplate or a "
                "template rising"
            ),
            details={"statistic_name": "far_repeat_rate", "far_radius": round(self.far, 4),
                     "far_repeats": self.events},
        )  # fmt: skip

    def _signal_now(self, since: float) -> Signal:
        return Signal(
            "semantic_drift", self.stream, self.field, self._test.statistic, self.bound, since,
            details={"statistic_name": "far_repeat_rate"},
        )  # fmt: skip
