"""The language of a free-text field: has the language its values are written in changed?

Each value is classified by ``py3langid`` (langid.py's model, shipped inside the wheel:
offline, ~25 µs a text, in the embedding thread that feeds the detector; repeated texts
hit a bounded cache). Short texts say little: values with fewer than ``min_letters``
letters are skipped, and only free-text fields are followed (after ``warmup`` values, at
least ``min_distinct_share`` of them distinct: descriptions, titles, queries; not
categories or brands, where a run of one value is one "language"), and only where the
model can tell: one language leads the warm-up with at least ``min_leader_share`` (an
English feed's descriptions read ~87% English; product titles, mostly brand names and
model codes, ~30%: not followed).

Per block of ``block_size`` classified values, the statistic is the **rise of the
block's leading language** over its share in the reference (the warm-up and every quiet
block since). It fires only when the block's leading language is *not* the reference's
leading language and the rise exceeds the threshold: the largest of ``floor``, a
4-standard-error bound of the reference share, and the highest such rise of the last
``history_blocks`` quiet blocks plus ``margin``. A sorted feed may shift the mix
(product names read as Latin in one category), but English stays the leading language
of an English feed; a locale bug makes Portuguese lead. A finding is a
``semantic_drift`` with ``details["statistic_name"] == "language_share"`` and the
languages before and after. The new language must come with diverse values (at
least ``min_distinct`` distinct texts in the block): one boilerplate text repeated
("Lorem ipsum…" reads as Latin) is boilerplate, not a locale change. Its signal stays
active until ``clear_blocks`` blocks in a row are led by the reference's language again
(or :meth:`acknowledge`).

Not found: a *minority* of values switching language while the reference's language
still leads the block.

Examples
--------
>>> from streamguard.events.records import SourcePosition
>>> d = LanguageDriftDetector("product", "description", clock=lambda: 0.0)
>>> en = [f"A sturdy wooden table number {i} for the kitchen and garden" for i in range(600)]
>>> pt = [f"Uma mesa de madeira resistente número {i} para a cozinha" for i in range(200)]
>>> found = [d.update(t, SourcePosition("t", 0, i)) for i, t in enumerate(en + pt)]
>>> hit = next(f for f in found if f is not None)
>>> hit.details["language"], hit.details["reference_language"], 600 <= hit.position.offset < 800
('pt', 'en', True)
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from functools import cache
from typing import Any

from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["LanguageDriftDetector", "identify_language"]


@cache
def _identifier() -> Any:
    """langid's model, loaded once per process (through an uncompressed cache: a few
    milliseconds instead of ~0.6 s, see :mod:`streamguard.drift.langid_model`)."""
    from streamguard.drift.langid_model import load_identifier

    return load_identifier()


def identify_language(text: str) -> str:
    """The ISO 639-1 code langid.py gives ``text``.

    >>> identify_language("Uma mesa de madeira para a cozinha e o jardim")
    'pt'
    """
    return str(_identifier().classify(text)[0])


class LanguageDriftDetector:
    """A change of the leading language of a free-text field (see the module docstring)."""

    def __init__(
        self,
        stream: str,
        field: str,
        *,
        block_size: int = 100,
        warmup: int = 300,
        min_letters: int = 12,
        min_distinct_share: float = 0.3,
        min_leader_share: float = 0.6,
        min_distinct: int = 10,
        floor: float = 0.3,
        margin: float = 0.1,
        history_blocks: int = 100,
        clear_blocks: int = 2,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if block_size < 10 or warmup < block_size or clear_blocks < 1:
            raise ValueError("need block_size >= 10, warmup >= block_size, clear_blocks >= 1")
        self.stream = stream
        self.field = field
        self.block_size = block_size
        self.warmup = warmup
        self.min_letters = min_letters
        self.min_distinct_share = min_distinct_share
        self.min_leader_share = min_leader_share
        self.min_distinct = min_distinct
        self.floor = floor
        self.margin = margin
        self.history_blocks = history_blocks
        self.clear_blocks = clear_blocks
        self.cache_size = cache_size
        self._clock = clock
        self._cache: dict[str, str] = {}
        self._distinct: set[str] = set()
        self._armed: bool | None = None
        self._reference: Counter[str] = Counter()
        self._block: Counter[str] = Counter()
        self._block_texts: set[tuple[str, str]] = set()
        self._block_n = 0
        self._history: deque[float] = deque(maxlen=history_blocks)
        self._quiet = 0
        self._signal: Signal | None = None
        self.last_statistic: tuple[float, float] | None = None

    @property
    def armed(self) -> bool:
        """True once warm-up showed a free-text field."""
        return bool(self._armed)

    def active_signal(self) -> Signal | None:
        """The open episode's signal, else None."""
        return self._signal

    def acknowledge(self) -> None:
        """Accept the new language: the reference restarts from the next blocks."""
        self._reference.clear()
        self._history.clear()
        self._armed, self._signal = None, None
        self._distinct.clear()

    def _language(self, text: str) -> str:
        lang = self._cache.get(text)
        if lang is None:
            lang = identify_language(text)
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[text] = lang
        return lang

    def update(self, text: str, position: SourcePosition) -> Finding | None:
        """Add one value; returns a finding when the block it completes changed language."""
        if self._armed is False or sum(c.isalpha() for c in text) < self.min_letters:
            return None
        lang = self._language(text)
        if self._armed is None:
            self._reference[lang] += 1
            if len(self._distinct) < self.warmup:
                self._distinct.add(text)
            total = self._reference.total()
            if total >= self.warmup:
                leading = self._reference.most_common(1)[0][1]
                self._armed = (
                    len(self._distinct) >= self.min_distinct_share * total
                    and leading >= self.min_leader_share * total
                )
                self._distinct.clear()
            return None
        self._block[lang] += 1
        self._block_texts.add((lang, text))
        self._block_n += 1
        if self._block_n < self.block_size:
            return None
        block, n, texts = self._block, self._block_n, self._block_texts
        self._block, self._block_n, self._block_texts = Counter(), 0, set()
        return self._score(block, n, texts, position)

    def _score(
        self,
        block: Counter[str],
        n: int,
        texts: set[tuple[str, str]],
        position: SourcePosition,
    ) -> Finding | None:
        total = self._reference.total()
        leader, count = block.most_common(1)[0]
        diverse = sum(1 for lang, _ in texts if lang == leader) >= min(
            self.min_distinct, 0.3 * count
        )
        reference_leader = self._reference.most_common(1)[0][0]
        ref_share = self._reference[leader] / total
        rise = count / n - ref_share
        se = math.sqrt(max(ref_share * (1 - ref_share), 1.0 / total) / n)
        calibrated = max(self._history) + self.margin if self._history else 0.0
        threshold = min(1.0, max(self.floor, 4 * se, calibrated))
        self.last_statistic = (rise, threshold)
        drifted = leader != reference_leader and rise > threshold and diverse
        if self._signal is not None:
            if drifted:
                self._quiet = 0
                self._signal = self._new_signal(rise, threshold, self._signal.since)
            else:
                self._quiet += 1
                if self._quiet >= self.clear_blocks:
                    self._signal = None
            return None
        if not drifted:
            self._history.append(max(0.0, rise) if leader != reference_leader else 0.0)
            self._reference.update(block)
            return None
        now = self._clock()
        self._signal, self._quiet = self._new_signal(rise, threshold, now), 0
        before = ", ".join(f"{k} {v / total:.0%}" for k, v in self._reference.most_common(3))
        after = ", ".join(f"{k} {v / n:.0%}" for k, v in block.most_common(3))
        return Finding(
            kind="semantic_drift",
            stream=self.stream,
            field=self.field,
            severity="critical" if rise >= 0.8 else "warning",
            statistic=rise,
            threshold=threshold,
            window={"reference": total, "recent": n},
            examples=[f"before: {before}", f"after: {after}"],
            position=position,
            detected_at=now,
            summary=(
                f"{self.stream}.{self.field}: the language changed from {reference_leader} "
                f"to {leader} ({count / n:.0%} of the last {n} values, {ref_share:.0%} before)"
            ),
            details={"statistic_name": "language_share", "language": leader,
                     "reference_language": reference_leader},
        )  # fmt: skip

    def _new_signal(self, rise: float, threshold: float, since: float) -> Signal:
        return Signal(
            "semantic_drift", self.stream, self.field, rise, threshold, since,
            details={"statistic_name": "language_share"},
        )  # fmt: skip
