"""The worker's detector state: restored before the first record, saved on a Faust timer
and once more at shutdown (see :mod:`streamguard.runtime.detector_state`).

Where: ``<data_dir>/detectors/``, the worker's own directory (a volume that outlives the
process: a restart on the same host or pod keeps the state; a worker rescheduled
elsewhere without its volume starts fresh). Not a compacted topic: a warmed product
engine is ~14 MB (its semantic reservoirs), over Kafka's default 1 MB message limit,
and the embedded broker does not compact.

Each save pickles in the event loop (15–25 ms median for warmed engines of both
streams, measured; once a minute by default) and seals and writes in a thread
(30–40 ms, off the loop). The last save, at
shutdown, first lets the embedding thread finish the texts it holds.

Right after restoring, the operator's drift acceptances (``STREAMGUARD_DRIFT_ACCEPT``)
not yet applied to the restored state are applied, and the state is saved at once so a
restart does not apply them again (:mod:`streamguard.runtime.drift_accept`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from streamguard.config import Settings
from streamguard.observability.detector_state import DetectorStateMetrics
from streamguard.observability.registry import CollectorRegistry
from streamguard.quality.scorer import QualityScorer
from streamguard.runtime.detector_state import DetectorSnapshots, Restored, state_dir
from streamguard.wiring import EngineGroup

__all__ = ["DetectorStateLink"]

log = logging.getLogger(__name__)


class DetectorStateLink:
    """Restores the detectors now; :meth:`save` is a timer, :meth:`save_at_shutdown` a
    receiver of the app's ``on_before_shutdown`` signal."""

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry,
        *,
        engines: EngineGroup | None,
        scorers: Mapping[str, QualityScorer],
    ) -> None:
        self.engines = engines
        self.drift_accept = list(settings.drift_accept)
        self.snapshots = DetectorSnapshots(
            state_dir(settings), settings, engines=engines, scorers=scorers
        )
        self.metrics = DetectorStateMetrics(registry)
        self._writing: asyncio.Future[Any] | None = None

    def restore(self) -> list[Restored]:
        """Restore every detector whose state file fits, then apply the drift
        acceptances not applied yet (before the first record)."""
        results = self.snapshots.restore()
        for result in results:
            self.metrics.observe_restore(result)
        if self.snapshots.accept(self.drift_accept):
            self.snapshots.save()  # the acceptance and the state it changed, together
        return results

    async def save(self) -> None:
        """Snapshot every detector (a timer): pickle here, write in a thread. Skipped
        while the previous write is still going."""
        if self._writing is not None and not self._writing.done():
            log.warning("detector state: the previous snapshot is still being written")
            return
        started = time.perf_counter()
        captured = self.snapshots.capture()
        loop_s = time.perf_counter() - started
        self._writing = asyncio.ensure_future(asyncio.to_thread(self.snapshots.write, captured))
        try:
            written = await asyncio.shield(self._writing)
        except Exception:
            log.exception("detector state not written")
            return
        self.metrics.observe_save(written, loop_s, time.time())
        log.debug(
            "detector state saved: %d bytes, %.1f ms in the loop",
            sum(w.size for w in written),
            loop_s * 1000,
        )

    async def save_at_shutdown(self, *args: Any, **kwargs: Any) -> None:
        """The last save (the app is stopping: its consumer is already stopped). Logs
        rather than raises: shutdown goes on."""
        try:
            if self._writing is not None and not self._writing.done():
                await asyncio.wait([self._writing])
            if self.engines is not None:
                # texts still queued for the embedding thread reach the detectors first
                await asyncio.to_thread(self._flush_engines, 5.0)
            await self.save()
        except Exception:
            log.exception("detector state not saved at shutdown")

    def _flush_engines(self, timeout_s: float) -> None:
        assert self.engines is not None
        for engine in self.engines.values():
            if not engine.flush(timeout_s):
                log.warning("detector state: %s texts still queued at shutdown", engine.stream)
