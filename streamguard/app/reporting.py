"""Exporting what the stream monitors found: quality scores as metrics, and findings
(drift, anomaly, quality drops) plus this worker's signal states to the findings topic.

Called after every batch for its stream and once a second for all (windows close on
quiet streams too). The findings topic is keyed by stream, so one partition holds all
of a stream's findings and signal states, from every worker; the worker that owns that
partition correlates them into incidents (:mod:`streamguard.app.incidents`). A signal
state record, ``{"kind": "signals", "stream", "field": null, "source", "signals": [...],
"records_in", "records_quarantined", "reasons": [{"code", "field", "count"}],
"reported_at"}``, goes out when the stream's active signals change and every
``signal_report_s`` otherwise; its counters are this worker's running totals for the
stream.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from streamguard.alerts.manager import SIGNALS_KIND
from streamguard.events.records import format_ts
from streamguard.events.signals import Signal
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import StreamName
from streamguard.quality.scorer import QualityScorer
from streamguard.wiring import EngineGroup

__all__ = ["FindingsReporter", "worker_source"]


def worker_source() -> str:
    """This worker process's name in signal state records (host, pid, a random tag)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class FindingsReporter:
    """Publishes the monitors' scores, findings and signal states; ``findings`` is a
    Faust topic."""

    def __init__(
        self,
        findings: Any,
        scorers: Mapping[str, QualityScorer],
        quality_metrics: QualityMetrics,
        *,
        engines: EngineGroup | None,
        metrics: WorkerMetrics | None = None,
        signal_report_s: float = 5.0,
        source: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.findings = findings
        self.scorers = scorers
        self.quality_metrics = quality_metrics
        self.engines = engines
        self.metrics = metrics
        self.signal_report_s = signal_report_s
        self.source = source or worker_source()
        self._clock = clock
        self._reported: dict[str, tuple[float, frozenset[str]]] = {}

    async def report(self, *streams: StreamName | str) -> None:
        """Export the monitors' scores; publish their findings and signal states."""
        findings: list[dict[str, Any]] = []
        signals: dict[str, list[Signal]] = {}
        for stream in streams:
            scorer = self.scorers[stream]
            self.quality_metrics.observe(scorer.snapshot())
            held = list(scorer.active_signals())
            engine = self.engines.get(stream) if self.engines is not None else None
            if engine is not None:  # none for a stream only a contract declares
                findings += [f.as_dict() for f in engine.drain_findings()]
                held += engine.active_signals()
            findings += scorer.drain_findings()
            signals[stream] = held
        if self.engines is not None:
            self.engines.update_metrics()
        for finding in findings:
            # Findings are observations, not records of the input: no ack is awaited.
            await self.findings.send(
                key=str(finding.get("stream", "")).encode(), value=orjson.dumps(finding)
            )
        now = self._clock()
        for stream, held in signals.items():
            keys = frozenset(s.group_key for s in held)
            last = self._reported.get(stream)
            if last is not None and last[1] == keys and now - last[0] < self.signal_report_s:
                continue
            self._reported[stream] = (now, keys)
            await self.findings.send(
                key=stream.encode(), value=orjson.dumps(self.signal_state(stream, held, now))
            )

    def signal_state(self, stream: str, held: list[Signal], now: float) -> dict[str, Any]:
        """The signal state record of ``stream``."""
        records_in, quarantined, reasons = (
            self.metrics.stream_counts(stream) if self.metrics is not None else (0, 0, {})
        )
        return {
            "kind": SIGNALS_KIND,
            "stream": stream,
            "field": None,  # readers of findings may index it
            "source": self.source,
            "signals": [s.as_dict() for s in held],
            "records_in": records_in,
            "records_quarantined": quarantined,
            "reasons": [
                {"code": code, "field": field, "count": count}
                for (code, field), count in sorted(reasons.items())
            ],
            "reported_at": format_ts(datetime.fromtimestamp(now, tz=UTC)),
        }
