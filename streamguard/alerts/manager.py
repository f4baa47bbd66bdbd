"""The alert manager: findings in, grouped notifications out to every target.

Threads, not asyncio: the manager must not share the Faust event loop (a slow receiver
would stall the stream), and httpx's sync client in a thread per target keeps one dead
receiver from delaying the others. :meth:`AlertManager.submit` may be called from any
thread; it groups the finding under a lock (dict operations, no I/O) and, when a new
incident opens, queues one notification per target. A housekeeping thread resolves
incidents every ``tick_interval_s`` whose signals have cleared (:meth:`update_signals`)
and that have been quiet for the quiet period.

Examples
--------
>>> import httpx, orjson
>>> got = []
>>> def receiver(request: httpx.Request) -> httpx.Response:
...     got.append(request.read())
...     return httpx.Response(200)
>>> target = AlertTarget("ops", "generic", "http://alerts.invalid/hook", secret="s")
>>> with AlertManager([target], transport=httpx.MockTransport(receiver)) as manager:
...     for _ in range(3):
...         manager.submit({"kind": "anomaly", "stream": "behavior", "field": "price"})
...     manager.open_incidents
1
>>> [orjson.loads(body)["status"] for body in got]  # stop() delivered what was queued
['firing']
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from streamguard.alerts.delivery import TargetWorker
from streamguard.alerts.incidents import IncidentBook, validate_finding
from streamguard.alerts.targets import AlertTarget, Notification, targets_from_settings
from streamguard.events.signals import Signal
from streamguard.observability.alerts import AlertMetrics, finding_kind
from streamguard.observability.registry import CollectorRegistry

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["AlertManager"]

log = logging.getLogger(__name__)


class AlertManager:
    """Groups findings into incidents and delivers their notifications.

    Parameters
    ----------
    targets
        Where notifications go (see :func:`~streamguard.alerts.targets_from_settings`).
    metrics
        :class:`AlertMetrics` to update (a private registry if omitted).
    quiet_period_s
        An incident resolves after this long without a finding of its group and, where
        its detector reports signals, this long after its last signal cleared.
    max_outbox
        Notifications kept waiting per target; beyond it the oldest is dropped.
    max_open
        Most incidents open at once.
    transport
        httpx transport for every target (tests pass ``httpx.MockTransport``).
    trust_env
        Let httpx read proxy settings from the environment.
    clock, monotonic
        Wall-clock seconds (timestamps, quiet periods) and a monotonic clock
        (backoff and rate limits).
    backoff_base_s, backoff_max_s
        Retry delays: base * 2^(attempt-1), capped, times a jitter in [0.5, 1].
    tick_interval_s
        How often the housekeeping thread resolves quiet incidents.
    seed
        Seed of the jitter (None: random).
    """

    def __init__(
        self,
        targets: Sequence[AlertTarget],
        *,
        metrics: AlertMetrics | None = None,
        quiet_period_s: float = 300.0,
        max_outbox: int = 1000,
        max_open: int = 500,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        tick_interval_s: float = 1.0,
        seed: int | None = None,
    ) -> None:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("alert target names must be unique")
        if tick_interval_s <= 0:
            raise ValueError("tick_interval_s must be > 0")
        self.metrics = metrics or AlertMetrics(CollectorRegistry())
        self.tick_interval_s = tick_interval_s
        self._clock = clock
        self._book = IncidentBook(quiet_period_s, max_open=max_open)
        self._lock = threading.Lock()
        rng = random.Random(seed)  # noqa: S311 - jitter, not crypto
        self._workers = {
            t.name: TargetWorker(
                t,
                metrics=self.metrics,
                transport=transport,
                trust_env=trust_env,
                max_outbox=max_outbox,
                monotonic=monotonic,
                rng=random.Random(rng.random()),  # noqa: S311
                backoff_base_s=backoff_base_s,
                backoff_max_s=backoff_max_s,
            )
            for t in targets
        }
        self._stop = threading.Event()
        self._ticker = threading.Thread(
            target=self._tick_loop, name="streamguard-alerts-tick", daemon=True
        )
        self._started = False
        self._kinds_seen: set[str] = set()
        self._signal_kinds: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, registry: CollectorRegistry, **kwargs: Any
    ) -> AlertManager:
        """The worker's manager: targets, quiet period and outbox size from ``settings``,
        metrics in ``registry`` (the worker's /metrics registry).

        >>> from streamguard.config import Settings
        >>> manager = AlertManager.from_settings(
        ...     Settings(webhook_url="https://hooks.example/x"), CollectorRegistry())
        >>> manager.outbox_depth("webhook")
        0
        """
        return cls(
            targets_from_settings(settings),
            metrics=AlertMetrics(registry),
            quiet_period_s=settings.alert_quiet_period_s,
            max_outbox=settings.alert_outbox_size,
            **kwargs,
        )

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery threads and the housekeeping thread."""
        if self._started:
            raise RuntimeError("AlertManager already started")
        self._started = True
        for worker in self._workers.values():
            worker.start()
        self._ticker.start()
        log.info("alerts: %d target(s): %s", len(self._workers), ", ".join(self._workers))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop resolving; deliver what is queued for up to ``timeout_s`` per target.

        Idempotent; notifications still queued afterwards are counted as dropped.
        """
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        for worker in self._workers.values():
            worker.stop(timeout_s)

    def __enter__(self) -> AlertManager:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- findings in ------------------------------------------------------------------------

    def submit(self, finding: Mapping[str, Any] | Any) -> None:
        """Account for one finding (DESIGN.md finding format); never blocks on I/O.

        ``finding`` is a dict, or an object with ``as_dict()`` returning one (the drift
        engine's ``Finding``). Raises ``TypeError``/``ValueError`` when it has no
        ``kind`` or ``stream``.
        """
        if not isinstance(finding, Mapping) and callable(getattr(finding, "as_dict", None)):
            finding = finding.as_dict()
        validate_finding(finding)
        self.metrics.findings.labels(finding_kind(finding["kind"])).inc()
        with self._lock:
            refused = self._book.refused
            notification = self._book.observe(finding, self._clock())
            if self._book.refused > refused:
                for name in self._workers:
                    self.metrics.dropped.labels(name, "incident_limit").inc()
            self._dispatch([notification] if notification is not None else [])

    def submit_many(self, findings: Iterable[Mapping[str, Any] | Any]) -> None:
        """:meth:`submit` each finding."""
        for finding in findings:
            self.submit(finding)

    def update_signals(self, signals: Iterable[Signal], *, streams: Iterable[str]) -> None:
        """The detectors' active signals of ``streams`` (all of them; call on every report,
        from any thread): an incident stays open while one of its signals is active, and
        resolves a quiet period after they cleared (see :class:`IncidentBook`)."""
        with self._lock:
            self._book.observe_signals(signals, self._clock(), streams=streams)
            counts: dict[str, int] = dict.fromkeys(self._signal_kinds, 0)
            for kind, count in self._book.active_by_kind().items():
                label = finding_kind(kind)
                counts[label] = counts.get(label, 0) + count
            self._signal_kinds.update(counts)
            for label, count in counts.items():
                self.metrics.active_signals.labels(label).set(count)

    def clear(self, stream: str, kind: str, field: str | None = None) -> bool:
        """Resolve the open incident of stream/kind/field now; False if none was open."""
        with self._lock:
            notification = self._book.clear(stream, kind, field, self._clock())
            self._dispatch([notification] if notification is not None else [])
        return notification is not None

    def tick(self) -> None:
        """Resolve incidents that have been quiet for the quiet period."""
        with self._lock:
            self._dispatch(self._book.expire(self._clock()))

    def _dispatch(self, notifications: list[Notification]) -> None:
        if not notifications:
            return  # no incident opened or closed: the gauges are still right
        for notification in notifications:
            log.info("alert %s: %s", notification.status, notification.group_key)
            for worker in self._workers.values():
                worker.offer(notification)
        by_kind = dict.fromkeys(self._kinds_seen, 0)
        for kind, count in self._book.open_by_kind().items():
            label = finding_kind(kind)
            by_kind[label] = by_kind.get(label, 0) + count
        self._kinds_seen.update(by_kind)
        for label, count in by_kind.items():
            self.metrics.open_incidents.labels(label).set(count)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_interval_s):
            try:
                self.tick()
            except Exception:  # keep resolving even if one tick fails
                log.exception("alerts: resolving quiet incidents failed")

    # --- reading the state ------------------------------------------------------------------

    @property
    def open_incidents(self) -> int:
        """How many incidents are open."""
        with self._lock:
            return self._book.open_count

    def outbox_depth(self, target: str) -> int:
        """Notifications waiting for ``target`` (KeyError for an unknown name)."""
        return self._workers[target].depth

    def wake(self) -> None:
        """Make every delivery thread re-check its outbox now."""
        for worker in self._workers.values():
            worker.wake()
