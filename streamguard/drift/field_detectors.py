"""The per-value drift detectors of a stream's text fields, beside the block detector.

:class:`~streamguard.drift.semantic_drift.SemanticDriftDetector` scores blocks of
embedded values; three more detectors see every value of every text field, each created
on the field's first value (issue 26):

* ``contamination``: :class:`~streamguard.drift.contamination.ContaminationDetector`,
  strays in a low-cardinality field (a fraction of records carrying the wrong value);
* ``language``: :class:`~streamguard.drift.language.LanguageDriftDetector`, the language
  of a free-text field;
* ``gradual``: :class:`~streamguard.drift.gradual.GradualDriftDetector`, a slowly rising
  share of far, repeated values (boilerplate) against a frozen reference.

Each kind takes its keyword options, or ``None`` to turn it off. All of them run in the
embedding thread that feeds :meth:`FieldDetectors.update` (never on the record's path).

Examples
--------
>>> from streamguard.embed.hashing import HashingEmbedder
>>> from streamguard.events.records import SourcePosition
>>> detectors = FieldDetectors("product", language=None, clock=lambda: 0.0)
>>> vector = HashingEmbedder(dim=16).embed(["home/kitchen"])[0]
>>> detectors.update("category", "home/kitchen", vector, SourcePosition("t", 0, 0))
[]
>>> sorted(detectors.kinds), detectors.statistics(), detectors.active_signals()
(['contamination', 'gradual'], [], [])
>>> detectors.acknowledge("category")
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from streamguard.drift.contamination import ContaminationDetector
from streamguard.drift.gradual import GradualDriftDetector
from streamguard.drift.language import LanguageDriftDetector
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["FieldDetectors"]

Vector = npt.NDArray[np.float32]
#: Default options: the detector on, with its defaults.
_ON: Mapping[str, Any] = {}


class _Detector(Protocol):
    def active_signal(self) -> Signal | None: ...

    def acknowledge(self) -> None: ...


class FieldDetectors:
    """Contamination, language and gradual-drift detectors by field (module docstring)."""

    def __init__(
        self,
        stream: str,
        *,
        contamination: Mapping[str, Any] | None = _ON,
        language: Mapping[str, Any] | None = _ON,
        gradual: Mapping[str, Any] | None = _ON,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = stream
        self._clock = clock
        #: The options of each kind that is on.
        self.kinds: dict[str, dict[str, Any]] = {
            kind: dict(options)
            for kind, options in (
                ("contamination", contamination),
                ("language", language),
                ("gradual", gradual),
            )
            if options is not None
        }
        self.contamination: dict[str, ContaminationDetector] = {}
        self.language: dict[str, LanguageDriftDetector] = {}
        self.gradual: dict[str, GradualDriftDetector] = {}

    def update(
        self, field: str, text: str, vector: Vector, source: SourcePosition
    ) -> list[Finding]:
        """Feed one embedded value of ``field`` to each detector; what they found."""
        found: list[Finding | None] = []
        options = self.kinds.get("contamination")
        if options is not None:
            strays = self.contamination.get(field)
            if strays is None:
                strays = self.contamination[field] = ContaminationDetector(
                    self.stream, field, clock=self._clock, **options
                )
            found.append(strays.update(text, vector, source))
        options = self.kinds.get("language")
        if options is not None:
            language = self.language.get(field)
            if language is None:
                language = self.language[field] = LanguageDriftDetector(
                    self.stream, field, clock=self._clock, **options
                )
            found.append(language.update(text, source))
        options = self.kinds.get("gradual")
        if options is not None:
            gradual = self.gradual.get(field)
            if gradual is None:
                gradual = self.gradual[field] = GradualDriftDetector(
                    self.stream, field, clock=self._clock, **options
                )
            found.append(gradual.update(text, vector, source))
        return [f for f in found if f is not None]

    def prime(self, field: str, texts: Sequence[str], vectors: Vector) -> None:
        """Before a batch's values of ``field`` are fed one by one: let the detectors
        that can do a batch's work in one matrix product do it now (the gradual one)."""
        gradual = self.gradual.get(field)
        if gradual is not None:
            gradual.prime(texts, vectors)

    def statistics(self) -> list[tuple[str, str, float, float]]:
        """``(field, detector, statistic, threshold)`` of each armed detector."""
        out: list[tuple[str, str, float, float]] = []
        for field, strays in list(self.contamination.items()):  # the batcher may add one
            if strays.armed:
                out.append((field, "contamination", strays.statistic, strays.bound))
        for field, language in list(self.language.items()):
            if language.last_statistic is not None:
                out.append((field, "language", *language.last_statistic))
        for field, gradual in list(self.gradual.items()):
            if gradual.armed:
                out.append((field, "gradual", gradual.statistic, gradual.bound))
        return out

    def _by_kind(self) -> tuple[Mapping[str, _Detector], ...]:
        return self.contamination, self.language, self.gradual

    def active_signals(self) -> list[Signal]:
        """The signals that hold now: contamination, language, then gradual; by field."""
        signals = []
        for detectors in self._by_kind():
            for _, detector in sorted(list(detectors.items()), key=lambda item: item[0]):
                signal = detector.active_signal()
                if signal is not None:
                    signals.append(signal)
        return signals

    def acknowledge(self, field: str) -> list[str]:
        """Accept the drift each detector of ``field`` holds open (a detector without an
        open episode is left as it is); the kinds that accepted one."""
        accepted = []
        kinds = ("contamination", "language", "gradual")
        for kind, detectors in zip(kinds, self._by_kind(), strict=True):
            detector = detectors.get(field)
            if detector is not None and detector.active_signal() is not None:
                detector.acknowledge()
                accepted.append(kind)
        return accepted
