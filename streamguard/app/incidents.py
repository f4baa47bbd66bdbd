"""Cluster-wide incidents: one owner per stream correlates every worker's findings.

Every worker publishes its findings and signal states to the findings topic keyed by
stream (:mod:`streamguard.app.reporting`), so each stream's records sit in one partition.
This module's Faust agent consumes that topic in the worker group: Kafka assigns each
partition to exactly one worker, which thereby owns the streams whose records it holds
and runs their incidents in its :class:`~streamguard.alerts.AlertManager`. A stream's
signal is active when any worker reported it within ``alert_signal_ttl_s``.

Every incident state change is published to the compacted incidents topic (key:
``incident_id``; value: the generic webhook body). When a worker receives the first
record of a stream it does not own yet (start, restart, rebalance), it reads that topic
to its end and takes over the stream's open incidents (and those within the flap
window), so a new owner neither pages them again nor leaves them open forever. A
worker that loses a findings partition drops the incidents of its streams, after
publishing what it had not yet published.

Records older than the quiet period plus the signal TTL (redelivered after a restart)
are skipped: they describe an episode already settled.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust
import orjson

from streamguard.alerts import AlertManager
from streamguard.alerts.incident import parse_iso
from streamguard.config import Settings
from streamguard.kafka.topic_reader import read_latest

__all__ = ["IncidentLink"]

log = logging.getLogger(__name__)


class IncidentLink:
    """The findings agent, the incident publisher and the take-over of open incidents."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        bootstrap: str,
        alerts: AlertManager,
        findings: Any,
    ) -> None:
        self.app = app
        self.settings = settings
        self.bootstrap = bootstrap
        self.alerts = alerts
        self.findings = findings
        self.incidents = app.topic(settings.topic_incidents, partitions=settings.partitions)
        self.owned: dict[str, int] = {}  # stream -> findings partition
        self._snapshot: dict[str, list[dict[str, Any]]] | None = None  # stream -> records
        self._max_age_s = settings.alert_quiet_period_s + settings.alert_signal_ttl_s

    def install(self) -> None:
        """Attach the agent, the publishing timer and the rebalance handlers."""
        self.app.agent(self.findings, name="streamguard.incidents")(self._agent)
        self.app.timer(1.0)(self.publish)
        self.app.on_partitions_assigned.connect(cast(Any, self._on_assigned))
        self.app.on_partitions_revoked.connect(cast(Any, self._on_revoked))

    async def _agent(self, stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                record = orjson.loads(message.value)
                await self.handle(record, message.partition)
            except Exception:  # one bad record must not stop the correlation
                log.exception("incidents: skipped a findings record it could not handle")

    async def handle(self, record: dict[str, Any], partition: int) -> None:
        """Correlate one findings-topic record (a finding or a signal state)."""
        stream = record.get("stream")
        if not isinstance(stream, str) or not stream:
            return
        at = parse_iso(record.get("reported_at") or record.get("detected_at"))
        if at is not None and time.time() - at > self._max_age_s:
            return
        if stream not in self.owned:
            await self._take(stream, partition)
        self.alerts.handle_record(record)

    async def _take(self, stream: str, partition: int) -> None:
        """Become the owner of ``stream``: take over its incidents from the topic."""
        if self._snapshot is None:
            try:
                latest = await read_latest(
                    self.bootstrap,
                    self.settings.topic_incidents,
                    self.settings.partitions,
                    **self.settings.kafka_client_options(),
                )
            except (TimeoutError, OSError) as exc:
                log.error("incidents: could not read %s: %s", self.settings.topic_incidents, exc)
                latest = {}
            self._snapshot = {}
            for value in latest.values():
                try:
                    record = orjson.loads(value)
                    self._snapshot.setdefault(str(record["stream"]), []).append(record)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
        taken = self.alerts.restore(self._snapshot.get(stream, []))
        self.owned[stream] = partition
        log.info("incidents: this worker owns stream %s (%d incident(s) taken over)", stream, taken)

    async def publish(self) -> None:
        """Send the incident records of the last state changes (keyed by incident id)."""
        futures = []
        for record in self.alerts.drain_records():
            futures.append(
                await self.incidents.send(
                    key=str(record["incident_id"]).encode(), value=orjson.dumps(record)
                )
            )
        for future in futures:
            await future

    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        try:
            await self.publish()  # the next owner reads them
        except Exception:
            log.exception("incidents: could not publish before a rebalance")

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        held = {tp.partition for tp in assigned if tp.topic == self.settings.topic_findings}
        lost = [stream for stream, partition in self.owned.items() if partition not in held]
        if lost:
            self.alerts.forget(lost)
            for stream in lost:
                del self.owned[stream]
            log.info("incidents: streams %s now belong to another worker", ", ".join(lost))
        self._snapshot = None  # read the topic again before taking over another stream
