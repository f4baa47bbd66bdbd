"""The composite quality score of one stream: a :class:`~streamguard.pipeline.PipelineObserver`.

:class:`QualityScorer` watches every record of one stream through the pipeline's hooks,
keeps the six dimensions of :mod:`streamguard.quality.dimensions`, stamps each clean
record's ``_dq.quality_score``, and reports ``quality_drop`` findings (DESIGN.md finding
format) when a dimension falls; the worker drains them with :meth:`drain_findings` and
reads the drops that still hold with :meth:`active_signals`.

The composite is the weighted mean of the dimensions that have data (weights are
renormalised over those), so a stream without a catalogue or an anomaly engine is
scored on the rest. Default weights (:data:`DEFAULT_WEIGHTS`): validity 0.30,
completeness 0.20, timeliness 0.15, consistency 0.15, uniqueness 0.10, anomaly 0.10.

A clean record's own score uses the same weights over the same dimensions applied to
that record: its completeness as sent, validity 1.0 (valid) or ``corrected_score``
(corrected), uniqueness 1.0 (it is not a duplicate), timeliness 1.0 or 0.0, consistency
1.0 / 0.5 (price off) / 0.0 (unknown product), and ``1 - anomaly_score``.

Examples
--------
>>> import orjson
>>> from streamguard.pipeline import RecordPipeline
>>> from streamguard.events.records import SourcePosition
>>> now = 1_800_000_000.0
>>> scorer = QualityScorer("behavior", clock=lambda: now)
>>> pipeline = RecordPipeline("behavior", clock=lambda: now, observers=[scorer])
>>> event = {"event_id": "e1", "event_type": "view", "user_id": "u1", "product_id": "p1",
...          "session_id": "s1", "platform": "web", "schema_version": 1,
...          "ts": 1_800_000_000_000}
>>> outcome = pipeline.process(orjson.dumps(event), SourcePosition("events.behavior", 0, 0))
>>> outcome.record["_dq"]["quality_score"]
1.0
>>> _ = pipeline.process(b'{"event_id": "e2"}', SourcePosition("events.behavior", 0, 1))
>>> scorer.close_window()  # every ``window`` records, or from tick()
>>> snap = scorer.snapshot()
>>> snap.dimensions["validity"], snap.fields["user_id"], snap.composite < 1.0
(0.5, 0.5, True)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from streamguard.events.records import Outcome, SourcePosition, format_ts
from streamguard.events.signals import Signal
from streamguard.quality.composite import (
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    QualitySnapshot,
    weighted_mean,
)
from streamguard.quality.detector import Drop, DropDetector
from streamguard.quality.dimensions import (
    DEFAULT_FADING_FACTOR,
    AnomalyRate,
    Completeness,
    Consistency,
    Timeliness,
    Uniqueness,
    Validity,
)
from streamguard.quality.examples import ExampleBook

__all__ = ["DEFAULT_WEIGHTS", "DIMENSIONS", "QualityScorer", "QualitySnapshot"]

_MAX_FINDINGS: Final = 100  # undrained findings kept (oldest dropped first)


class QualityScorer:
    """Online quality of one stream; a pipeline observer (see the module docstring).

    Not thread-safe: call it from the thread that runs the pipelines (the worker's event
    loop), including :meth:`snapshot`, :meth:`tick` and :meth:`drain_findings`.

    Per record the dimensions only count; every ``window`` decided records (or
    ``max_window_s`` seconds, whichever comes first) the window closes: the dimensions
    fold their window rates into their EWMAs, and each rate (per dimension, and per
    field for completeness) goes to its own :class:`~streamguard.quality.DropDetector`.

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``.
    catalogue
        Product lookup (``.get(product_id)``) for consistency; behaviour stream only.
    clock
        Seconds since the epoch: "now" for timeliness, windows and ``detected_at``.
    weights
        Composite weights per dimension (any numbers >= 0; renormalised).
    fading_factor
        Weight of the newest window in every dimension's EWMA.
    window, max_window_s
        Records per window, and the longest a window stays open (quiet streams).
    late_after_s, future_after_s
        Timeliness limits on the event-time lag.
    price_tolerance
        Relative price difference to the catalogue that still counts as consistent.
    anomaly_threshold
        Anomaly scores at or above it count as anomalous.
    corrected_score
        A corrected record's own validity score.
    detector_min_windows, detector_threshold, detector_min_drop
        Passed to every :class:`~streamguard.quality.DropDetector`.
    fields
        (required, optional) fields of a stream a data contract declares (completeness
        of ``behavior`` and ``product`` knows their own).
    """

    def __init__(
        self,
        stream: str,
        *,
        catalogue: Any = None,
        clock: Callable[[], float] = time.time,
        weights: Mapping[str, float] = DEFAULT_WEIGHTS,
        fading_factor: float = DEFAULT_FADING_FACTOR,
        window: int = 200,
        max_window_s: float = 10.0,
        late_after_s: float = 300.0,
        future_after_s: float = 60.0,
        price_tolerance: float = 0.5,
        anomaly_threshold: float = 0.8,
        corrected_score: float = 0.9,
        detector_min_windows: int = 10,
        detector_threshold: float = 0.5,
        detector_min_drop: float = 0.05,
        fields: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> None:
        if set(weights) != set(DIMENSIONS) or any(w < 0 for w in weights.values()):
            raise ValueError(f"weights needs a weight >= 0 for each of {', '.join(DIMENSIONS)}")
        if not 0 <= corrected_score <= 1:
            raise ValueError("corrected_score must be in [0, 1]")
        if window < 1 or max_window_s <= 0:
            raise ValueError("window must be >= 1 and max_window_s > 0")
        self.stream = stream
        self.catalogue = catalogue
        self.weights = dict(weights)
        self.window = window
        self.max_window_s = max_window_s
        self.corrected_score = corrected_score
        self.detector_min_windows = detector_min_windows
        self.detector_threshold = detector_threshold
        self.detector_min_drop = detector_min_drop
        self._clock = clock
        self._completeness = Completeness(stream, fading_factor=fading_factor, fields=fields)
        self._validity = Validity(fading_factor)
        self._uniqueness = Uniqueness(fading_factor)
        self._timeliness = Timeliness(
            late_after_s=late_after_s, future_after_s=future_after_s, fading_factor=fading_factor
        )
        self._consistency = (
            Consistency(catalogue, price_tolerance=price_tolerance, fading_factor=fading_factor)
            if catalogue is not None and stream == "behavior"
            else None
        )
        self._anomaly = AnomalyRate(anomaly_threshold, fading_factor)
        # One detector per dimension (field None) and per field for completeness.
        self._detectors: dict[tuple[str, str | None], DropDetector] = {}
        self._signals: dict[tuple[str, str | None], Signal] = {}  # drops that hold now
        self._examples = ExampleBook()
        self._findings: deque[dict[str, Any]] = deque(maxlen=_MAX_FINDINGS)
        self._findings_total = 0
        self._pending_completeness: float | None = None
        self._in_window = 0
        self._window_started = clock()
        self._last_source: SourcePosition | None = None
        self._ts_prefix = ""
        self._ts_second = 0.0

    # --- PipelineObserver -----------------------------------------------------------------

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Completeness of what the producer sent (before repair)."""
        self._pending_completeness = self._completeness.learn_one(record)
        missing = self._completeness.last_missing
        if missing:
            self._examples.add("completeness", None, source, record, "missing", missing)
            for name in missing:
                self._examples.add("completeness", name, source, record, "missing", name)

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Timeliness, consistency and anomaly; stamps ``_dq.quality_score``."""
        dq = record["_dq"]
        w = self.weights
        # The record's own composite, summed inline: this runs for every clean record.
        w_unique, w_valid = w["uniqueness"], w["validity"]
        got = w_unique + w_valid * (
            self.corrected_score if dq.get("status") == "corrected" else 1.0
        )
        total = w_unique + w_valid
        completeness = self._pending_completeness
        self._pending_completeness = None
        if completeness is not None:
            weight = w["completeness"]  # each weight read once
            got += weight * completeness
            total += weight
        ts = record.get("ts")
        # self._event_time(ts), its usual case inline: the canonical ts of the last second
        if (
            type(ts) is str
            and len(ts) == 24
            and ts[19] == "."
            and ts.startswith(self._ts_prefix)
            and (millis := ts[20:23]).isdigit()
            and self._ts_prefix
        ):
            event_time: float | None = self._ts_second + int(millis) / 1000.0
        else:
            event_time = self._event_time(ts)
        if event_time is not None:
            on_time = self._timeliness.learn_one(event_time, self._clock())
            weight = w["timeliness"]
            got += weight * on_time
            total += weight
            if not on_time:
                self._examples.add("timeliness", None, source, record, "late or future ts", ts)
        if self._consistency is not None:
            consistent = self._consistency.learn_one(record)
            if consistent is not None:
                got += w["consistency"] * consistent
                total += w["consistency"]
                if consistent < 1.0:
                    detail = "price off the catalogue" if consistent else "unknown product"
                    self._examples.add("consistency", None, source, record, detail)
        anomaly_score = dq.get("anomaly_score")
        if anomaly_score is not None:
            if self._anomaly.learn_one(anomaly_score):
                self._examples.add("anomaly", None, source, record, "anomaly_score", anomaly_score)
            if type(anomaly_score) is float and 0.0 <= anomaly_score <= 1.0:
                weight = w["anomaly"]
                got += weight * (1.0 - anomaly_score)  # the clamp below, a no-op here
                total += weight
            elif isinstance(anomaly_score, (int, float)) and anomaly_score == anomaly_score:
                got += w["anomaly"] * (1.0 - min(max(float(anomaly_score), 0.0), 1.0))
                total += w["anomaly"]
        # int(x * 1e4 + 0.5) / 1e4 rounds like round(x, 4) for x >= 0, at a tenth of the cost.
        dq["quality_score"] = int(got / total * 10_000 + 0.5) / 10_000 if total else None

    def _event_time(self, ts: Any) -> float | None:
        """Epoch seconds of a clean record's ``ts`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``).

        Parsing costs ~1 µs; consecutive events mostly share their second, so the last
        second's prefix is cached and only the milliseconds are read per record.
        """
        if not isinstance(ts, str):
            return None
        prefix = ts[:19]
        if prefix != self._ts_prefix:
            try:
                second = datetime.fromisoformat(prefix + "+00:00").timestamp()
            except ValueError:
                return None
            self._ts_prefix, self._ts_second = prefix, second
        millis = ts[20:23]
        if len(ts) == 24 and ts[19] == "." and millis.isdigit():
            return self._ts_second + int(millis) / 1000.0
        try:  # not the pipeline's own format: parse it whole
            return datetime.fromisoformat(ts).timestamp()
        except ValueError:
            return None

    def on_outcome(self, outcome: Outcome) -> None:
        """Validity and uniqueness from the final decision; closes windows."""
        reasons = outcome.reasons
        duplicate = any(r.code == "duplicate" for r in reasons) if reasons else False
        self._uniqueness.learn_one(duplicate)
        self._validity.learn_one(outcome.status, duplicate=duplicate)
        if reasons:
            dimension = "uniqueness" if duplicate else "validity"
            detail = ", ".join(f"{r.code}:{r.field}" for r in reasons[:3])
            self._examples.add(dimension, None, outcome.source, None, detail)
        self._last_source = outcome.source
        self._in_window += 1
        if self._in_window >= self.window:
            self.close_window()

    # --- windows and findings ---------------------------------------------------------------

    def tick(self) -> None:
        """Close the open window if it is older than ``max_window_s`` (call on a timer)."""
        if self._in_window and self._clock() - self._window_started >= self.max_window_s:
            self.close_window()

    def close_window(self) -> None:
        """Fold the open window into the scores and run the drop detectors on it."""
        self._window_started = now = self._clock()
        self._in_window = 0
        closed: list[tuple[str, dict[str | None, float]]] = [
            ("completeness", self._completeness.close_window()),
            ("validity", self._validity.close_window()),
            ("uniqueness", self._uniqueness.close_window()),
            ("timeliness", self._timeliness.close_window()),
            ("anomaly", self._anomaly.close_window()),
        ]
        if self._consistency is not None:
            closed.append(("consistency", self._consistency.close_window()))
        for dimension, rates in closed:
            for field, rate in rates.items():
                detector = self._detectors.get((dimension, field))
                if detector is None:
                    detector = self._detectors[dimension, field] = DropDetector(
                        min_windows=self.detector_min_windows,
                        threshold=self.detector_threshold,
                        min_drop=self.detector_min_drop,
                    )
                drop = detector.learn_one(rate)
                if drop is not None:
                    self._report(dimension, field, drop)
                active, old = detector.active, self._signals.get((dimension, field))
                if active is not None:
                    self._signals[dimension, field] = Signal(
                        "quality_drop", self.stream, field, round(active.current, 4),
                        round(active.baseline, 4), old.since if old else now, dimension,
                    )  # fmt: skip
                elif old is not None:
                    del self._signals[dimension, field]

    def active_signals(self) -> list[Signal]:
        """The drops that hold now: a dimension (or field) still below the level it fell
        from (``statistic``: the latest window, ``threshold``: that level). Read per
        batch or tick; a drop clears at the first window back near its level."""
        return [self._signals[key] for key in sorted(self._signals, key=str)]

    def _report(self, dimension: str, field: str | None, drop: Drop) -> None:
        fall = drop.baseline - drop.current
        source = self._last_source
        self._findings_total += 1
        self._findings.append(
            {
                "kind": "quality_drop",
                "stream": self.stream,
                "field": field,
                "dimension": dimension,
                "severity": "critical" if fall >= 0.2 else "warning",
                "statistic": round(drop.current, 4),
                "threshold": round(drop.baseline, 4),
                "window": {"records": self.window, "windows": drop.windows},
                "examples": self._examples.render(dimension, field),
                "position": source.as_dict() if source is not None else None,
                "detected_at": format_ts(datetime.fromtimestamp(self._clock(), tz=UTC)),
            }
        )

    def drain_findings(self) -> list[dict[str, Any]]:
        """The ``quality_drop`` findings since the last call (at most the last 100)."""
        findings = list(self._findings)
        self._findings.clear()
        return findings

    # --- reading the scores -----------------------------------------------------------------

    def dimensions(self) -> dict[str, float | None]:
        """Every dimension's stream-level score (None: no data yet or not applicable)."""
        return {
            "validity": self._validity.get(),
            "completeness": self._completeness.get(),
            "timeliness": self._timeliness.get(),
            "consistency": self._consistency.get() if self._consistency else None,
            "uniqueness": self._uniqueness.get(),
            "anomaly": self._anomaly.get(),
        }

    def score(self) -> float | None:
        """The composite stream score in [0, 1] (None before the first window closed)."""
        return weighted_mean(self.dimensions(), self.weights)

    def snapshot(self) -> QualitySnapshot:
        """All scores at once, rounded to 4 places (for metrics and reports)."""
        dims = {k: None if v is None else round(v, 4) for k, v in self.dimensions().items()}
        composite = weighted_mean(dims, self.weights)
        return QualitySnapshot(
            stream=self.stream,
            composite=None if composite is None else round(composite, 4),
            dimensions=dims,
            fields={k: round(v, 4) for k, v in self._completeness.fields().items()},
            lag_seconds=self._timeliness.lag_seconds(),
            late_events=self._timeliness.late,
            future_events=self._timeliness.future,
            findings=self._findings_total,
        )
