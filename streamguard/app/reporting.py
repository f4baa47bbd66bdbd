"""Exporting what the stream monitors found: quality scores as metrics, findings (drift,
anomaly, quality drops) to the findings topic and the alert manager, and the signals that
hold now to the alert manager (an incident resolves only once they cleared).

Called after every batch for its stream and once a second for all (windows close on
quiet streams too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streamguard.alerts import AlertManager
from streamguard.events.signals import Signal
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import StreamName
from streamguard.quality.scorer import QualityScorer
from streamguard.wiring import EngineGroup

__all__ = ["FindingsReporter"]


class FindingsReporter:
    """Publishes the monitors' scores and findings; ``findings`` is a Faust topic."""

    def __init__(
        self,
        findings: Any,
        scorers: Mapping[str, QualityScorer],
        quality_metrics: QualityMetrics,
        *,
        engines: EngineGroup | None,
        alerts: AlertManager | None,
    ) -> None:
        self.findings = findings
        self.scorers = scorers
        self.quality_metrics = quality_metrics
        self.engines = engines
        self.alerts = alerts

    async def report(self, *streams: StreamName) -> None:
        """Export the monitors' scores and publish their findings (topic and alerts)."""
        findings: list[dict[str, Any]] = []
        signals: list[Signal] = []
        for stream in streams:
            scorer = self.scorers[stream]
            self.quality_metrics.observe(scorer.snapshot())
            if self.engines is not None:
                findings += [f.as_dict() for f in self.engines[stream].drain_findings()]
                signals += self.engines[stream].active_signals()
            findings += scorer.drain_findings()
            signals += scorer.active_signals()
        if self.engines is not None:
            self.engines.update_metrics()
        for finding in findings:
            # Findings are observations, not records of the input: no ack is awaited.
            await self.findings.send(
                key=str(finding.get("stream", "")).encode(), value=orjson.dumps(finding)
            )
        if self.alerts is not None:
            if findings:
                self.alerts.submit_many(findings)
            self.alerts.update_signals(signals, streams=streams)
