"""Semantic drift of one text field: has its *meaning* moved where the reference has none?

Statistic (per block of ``block_size`` values): the **out-of-support share** — the share
of the block's records whose embedding lies farther from every reference value than the
reference's own values lie from each other (a k-nearest-neighbour two-sample test). The
support radius is the ``support_quantile`` of the reference's leave-one-out
nearest-neighbour distances (over distinct values), times ``radius_margin``.

Why not a plain distance between distributions: streams are not i.i.d. A feed sorted by
category, a bulk load of one department or a session burst makes a block look nothing
like the reference *mixture*, yet every value in it sits where the reference has support.
Only values that leave the support count here, and:

* **Calibration on the stream itself.** The threshold is the largest of ``floor``, the
  binomial bound for a block drawn from the reference (alpha 1e-4), and the highest share
  of the last ``history_blocks`` blocks plus ``margin``: a stream whose window-to-window
  variability is high gets a higher threshold.
* **Runs of one value are not drift.** In a low-cardinality field (median distinct values
  per block below ``high_cardinality``) the block must also hold at least
  ``min_novel_values`` distinct out-of-support values, so the first run of a new category
  in a sorted feed does not fire; in a high-cardinality field (descriptions, titles), one
  new value taking over the block (boilerplate) does.
* **Warm-up.** Nothing fires before the reference holds ``warmup`` values with at least
  ``min_distinct`` distinct ones and ``calibration_blocks`` blocks were scored (the
  second half of the warm-up is scored for calibration already).
* **Lag.** A block joins the reference ``lag_blocks`` blocks after it was scored, so a
  drift that starts mid-block is still out of support in the next one.
* **Episodes and re-baseline.** A finding opens an episode: the detector keeps scoring
  every block against the *pre-drift* reference (nothing of the episode joins it) and
  :meth:`~SemanticDriftDetector.active_signal` reports it. It clears after
  ``clear_blocks`` blocks in a row back within the threshold. A change that persists for
  ``rebaseline_blocks`` drifted blocks is accepted as the new normal (with
  ``auto_acknowledge``; or by calling :meth:`~SemanticDriftDetector.acknowledge`): its
  blocks join the reference, thresholds recalibrate, an ``info`` finding with
  ``details["rebaselined"]`` says so, and only then does the signal clear.

Examples
--------
>>> import numpy as np
>>> from streamguard.embed.hashing import HashingEmbedder
>>> from streamguard.events.records import SourcePosition
>>> embed = HashingEmbedder(dim=64).embed
>>> d = SemanticDriftDetector("product", "category", block_size=50, warmup=100,
...                           clock=lambda: 0.0)
>>> paths = ["home/kitchen", "toys/games", "books/fiction", "fashion/shoes", "beauty/skincare"]
>>> for i in range(400):
...     assert d.update(paths[i % 5], embed([paths[i % 5]])[0], SourcePosition("t", 0, i)) is None
>>> titles = [f"Zentek Ultra Phone {i} with {i % 7} cameras and case" for i in range(100)]
>>> found = [d.update(t, embed([t])[0], SourcePosition("t", 0, 400 + i))
...          for i, t in enumerate(titles)]
>>> hit = next(f for f in found if f is not None)
>>> hit.kind, hit.field, hit.position.offset < 500, hit.statistic > hit.threshold
('semantic_drift', 'category', True, True)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from streamguard.drift.reservoir import Reservoir
from streamguard.drift.semantic_report import (
    BlockStats,
    binomial_upper,
    drift_finding,
    rebaseline_finding,
)
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["BlockStats", "SemanticDriftDetector", "binomial_upper"]

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]


class SemanticDriftDetector:
    """Out-of-support drift of one text field's embeddings (see the module docstring)."""

    def __init__(
        self,
        stream: str,
        field: str,
        *,
        block_size: int = 100,
        warmup: int = 300,
        min_distinct: int = 5,
        calibration_blocks: int = 3,
        history_blocks: int = 100,
        lag_blocks: int = 2,
        reference_size: int = 2000,
        support_quantile: float = 0.99,
        radius_margin: float = 1.15,
        floor: float = 0.25,
        margin: float = 0.2,
        new_value_radius: float = 0.5,
        min_novel_values: int = 3,
        high_cardinality: int = 20,
        auto_acknowledge: bool = True,
        rebaseline_blocks: int = 20,
        clear_blocks: int = 2,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if block_size < 10:
            raise ValueError("block_size must be >= 10")
        if not 0.5 <= support_quantile <= 1.0:
            raise ValueError("support_quantile must be in [0.5, 1]")
        if reference_size < 2 * min_distinct or min_distinct < 2:
            raise ValueError("need min_distinct >= 2 and reference_size >= 2 * min_distinct")
        if rebaseline_blocks < 1 or clear_blocks < 1:
            raise ValueError("rebaseline_blocks and clear_blocks must be >= 1")
        self.stream = stream
        self.field = field
        self.block_size = block_size
        self.warmup = warmup
        self.min_distinct = min_distinct
        self.calibration_blocks = calibration_blocks
        self.history_blocks = history_blocks
        self.lag_blocks = lag_blocks
        self.reference_size = reference_size
        self.support_quantile = support_quantile
        self.radius_margin = radius_margin
        self.floor = floor
        self.margin = margin
        self.new_value_radius = new_value_radius
        self.min_novel_values = min_novel_values
        self.high_cardinality = high_cardinality
        self.auto_acknowledge = auto_acknowledge
        self.rebaseline_blocks = rebaseline_blocks
        self.clear_blocks = clear_blocks
        self.seed = seed
        self._clock = clock
        self._ref = Reservoir(reference_size, seed)
        self._radius: float | None = None
        self._radius_p0 = 0.0
        self._radius_stale = True
        self._radius_size = 0
        self._loo_radius = 0.0
        self._radius_age = 0
        self._block: list[tuple[str, Vector]] = []
        self._pending: deque[list[tuple[str, Vector]]] = deque()
        self._history: deque[float] = deque(maxlen=history_blocks)
        # Nearest-reference distances of values when they were new: how far an ordinary
        # new value lies from what came before (held out, unlike leave-one-out).
        self._novelty_history: deque[float] = deque(maxlen=5000)
        self._new_history: deque[float] = deque(maxlen=history_blocks)
        self._new_distinct_history: deque[int] = deque(maxlen=history_blocks)
        self._distinct_history: deque[int] = deque(maxlen=history_blocks)
        self._open = False
        # The open episode: its drifted blocks (kept for a re-baseline), how many there
        # were, the quiet blocks in a row since the last one, and its signal.
        self._episode: deque[list[tuple[str, Vector]]] = deque(maxlen=rebaseline_blocks)
        self._drifted = 0
        self._quiet = 0
        self._signal: Signal | None = None
        self.last_block: BlockStats | None = None
        self.blocks_scored = 0

    @property
    def armed(self) -> bool:
        """True once the reference is rich enough to score blocks against."""
        return self._ref.values >= self.warmup and len(self._ref) >= self.min_distinct

    @property
    def is_open(self) -> bool:
        """True from a finding until the drift clears or is accepted (re-baseline)."""
        return self._open

    def active_signal(self) -> Signal | None:
        """The open episode's signal (latest block's statistic, first seen), else None."""
        return self._signal

    def update(self, text: str, vector: Vector, position: SourcePosition) -> Finding | None:
        """Add one value; returns a finding when the block it completes has drifted."""
        self._block.append((text, vector))
        if len(self._block) < self.block_size:
            return None
        block, self._block = self._block, []
        if not self.armed:
            if len(self._ref) >= self.min_distinct:
                if self._ref.values >= self.warmup // 2:
                    # late warm-up blocks already teach the stream's variability
                    self._score(block, position, calibrate_only=True)
                else:
                    self._novelty_history.extend(self._novelty(block).values())
            self._absorb(block)
            return None
        if self._open:
            self._score(block, position)
            return self._follow(block, position)
        finding = self._score(block, position)
        if finding is not None:  # an episode opens; the lag blocks stay out of the reference
            self._episode.append(block)
            self._drifted, self._quiet = 1, 0
            self._signal = self._signal_now(finding.detected_at)
            return finding
        self._pending.append(block)
        while len(self._pending) > self.lag_blocks:
            self._absorb(self._pending.popleft())
        return None

    def _follow(self, block: list[tuple[str, Vector]], position: SourcePosition) -> Finding | None:
        """One more block of an open episode: still drifted, cleared, or accepted."""
        assert self.last_block is not None and self._signal is not None
        if not self.last_block.drifted:
            self._quiet += 1
            if self._quiet >= self.clear_blocks:  # back to the reference: the episode ends
                self._pending.clear()
                self._episode.clear()
                self._open, self._signal = False, None
            return None
        self._quiet = 0
        self._drifted += 1
        self._episode.append(block)
        self._signal = self._signal_now(self._signal.since)
        if not self.auto_acknowledge or self._drifted < self.rebaseline_blocks:
            return None
        finding = rebaseline_finding(
            self.stream,
            self.field,
            self.last_block,
            blocks=self._drifted,
            since=self._signal.since,
            recent=list(dict.fromkeys(text for text, _ in block)),
            position=position,
            detected_at=self._clock(),
        )
        log.info("%s", finding.summary)
        self.acknowledge()
        return finding

    def _signal_now(self, since: float) -> Signal:
        stats = self.last_block
        assert stats is not None
        return Signal(
            "semantic_drift", self.stream, self.field, stats.statistic, stats.threshold, since,
            details={"blocks": self._drifted},
        )  # fmt: skip

    def acknowledge(self) -> None:
        """Accept the drift: the episode's blocks join the reference (they take their
        place in it), thresholds recalibrate, and the episode ends."""
        while self._pending:
            self._absorb(self._pending.popleft())
        while self._episode:
            self._absorb(self._episode.popleft(), force=True)
        self._history.clear()
        self._new_history.clear()
        self._new_distinct_history.clear()
        self._novelty_history.clear()
        self._distinct_history.clear()
        self._open, self._signal, self._drifted, self._quiet = False, None, 0, 0

    # --- reference --------------------------------------------------------------------

    def _absorb(self, block: list[tuple[str, Vector]], *, force: bool = False) -> None:
        """Offer the block's values to the reference (``force``: accepted drift)."""
        if self._ref.absorb(block, force=force):
            self._radius_stale = True

    def _support_radius(self) -> float:
        """Quantile of leave-one-out nearest-neighbour distances in the reference."""
        ref = self._ref.vectors()
        if self._radius is not None and not (
            self._radius_stale and len(ref) >= self._radius_size * 1.1
        ):
            if self._radius_stale:  # reservoir churn: refresh now and then, not every block
                self._radius_age += 1
                if self._radius_age < 10:
                    return self._held_out_radius()
            else:
                return self._held_out_radius()
        self._radius_size = len(ref)
        self._radius_age = 0
        loo = self._ref.loo_distances(500, self.seed)  # of at most 500 reference values
        # With few distinct values the quantile is the maximum: be generous.
        quantile = float(np.quantile(loo, self.support_quantile)) if len(loo) >= 100 else loo.max()
        self._loo_radius = float(quantile) * self.radius_margin
        self._radius_stale = False
        return self._held_out_radius(loo)

    def _held_out_radius(self, loo: npt.NDArray[np.float32] | None = None) -> float:
        radius = self._loo_radius
        if len(self._novelty_history) >= 50:
            held_out = np.quantile(np.fromiter(self._novelty_history, float), self.support_quantile)
            radius = max(radius, float(held_out) * self.radius_margin)
        self._radius = max(0.05, radius)
        if loo is not None:
            self._radius_p0 = float(np.mean(loo > self._radius))
        return self._radius

    # --- scoring ----------------------------------------------------------------------

    def _threshold(self, size: int, history: deque[float]) -> float:
        p0 = max(self._radius_p0, 0.01)
        null_bound = binomial_upper(size, p0) / size
        calibrated = max(history) + self.margin if history else 0.0
        return min(1.0, max(self.floor, null_bound, calibrated))

    def _novelty(self, block: list[tuple[str, Vector]]) -> dict[str, float]:
        """Distance to the nearest reference value of each distinct value not in it."""
        first: dict[str, Vector] = {}
        for text, vector in block:
            if text not in self._ref:
                first.setdefault(text, vector)
        if not first:
            return {}
        sims = np.vstack(list(first.values())) @ self._ref.vectors().T
        return {t: float(1.0 - s) for t, s in zip(first, sims.max(axis=1).tolist(), strict=True)}

    def _score(
        self,
        block: list[tuple[str, Vector]],
        position: SourcePosition,
        *,
        calibrate_only: bool = False,
    ) -> Finding | None:
        radius = self._support_radius()
        counts: dict[str, int] = {}
        for text, _ in block:
            counts[text] = counts.get(text, 0) + 1
        novelty = self._novelty(block)
        near = radius * self.new_value_radius
        by_count = sorted(novelty, key=lambda t: -counts[t])
        outside = [t for t in by_count if novelty[t] > radius]
        new = [t for t in by_count if novelty[t] > near]
        shares = (
            sum(counts[t] for t in outside) / len(block),
            sum(counts[t] for t in new) / len(block),
        )
        thresholds = (
            self._threshold(len(block), self._history),
            self._threshold(len(block), self._new_history),
        )
        typical = (
            sorted(self._distinct_history)[len(self._distinct_history) // 2]
            if self._distinct_history
            else len(counts)
        )
        # Which statistic fired, if any: out-of-support share first, then new-value share.
        # Both need enough distinct values: a run of one new value (a new category in a
        # sorted feed) is not drift, unless the field is high-cardinality (boilerplate).
        enough_out = len(outside) >= max(self.min_novel_values, 2 * typical) or (
            typical >= self.high_cardinality and len(outside) >= 1
        )
        # New values must outnumber the most the stream's own history brought at once.
        usual_new = max(self._new_distinct_history, default=0)
        # ... and in fields where nearly every value is new anyway (titles), it says nothing.
        enough_new = len(new) >= max(self.min_novel_values, 2 * usual_new + 1) and (
            typical < 0.8 * self.block_size
        )
        which = -1
        if shares[0] > thresholds[0] and enough_out:
            which = 0
        elif shares[1] > thresholds[1] and enough_new:
            which = 1
        share, threshold = shares[max(which, 0)], thresholds[max(which, 0)]
        outside = (outside, new)[max(which, 0)]
        calibrated = len(self._history) >= self.calibration_blocks
        drifted = calibrated and not calibrate_only and which >= 0
        fired = drifted and not self._open
        self.blocks_scored += 1
        self.last_block = BlockStats(
            share, threshold, radius, len(counts), len(outside), fired, drifted
        )
        if not fired:
            if not self._open:  # the stream's own variability, incl. guarded runs
                if shares[0] <= thresholds[0] / 2:
                    # only clearly quiet blocks teach how far ordinary new values lie
                    self._novelty_history.extend(novelty.values())
                self._history.append(shares[0])
                self._new_history.append(shares[1])
                self._new_distinct_history.append(len(new))
                self._distinct_history.append(len(counts))
            return None
        self._open = True
        return drift_finding(
            self.stream,
            self.field,
            self.last_block,
            statistic_name=("out_of_support_share", "new_value_share")[which],
            recent=len(block),
            reference=self._ref,
            outside=outside,
            novelty=novelty,
            position=position,
            detected_at=self._clock(),
        )
