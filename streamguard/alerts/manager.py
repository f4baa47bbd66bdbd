"""The alert manager: findings and signal states in, incident notifications out.

Threads, not asyncio: the manager must not share the Faust event loop (a slow receiver
would stall the stream), and httpx's sync client in a thread per target keeps one dead
receiver from delaying the others. :meth:`AlertManager.submit` and
:meth:`AlertManager.update_signals` may be called from any thread; they correlate under
a lock (dict operations, no I/O, see :class:`~streamguard.alerts.incidents.IncidentBook`).
A housekeeping thread calls :meth:`tick` every ``tick_interval_s``: incidents whose group
wait passed fire, throttled updates go out, quiet incidents resolve; each notification is
queued per target and its incident record kept for :meth:`drain_records` (the worker
publishes them to the incidents topic).

Examples
--------
>>> import httpx, orjson
>>> got = []
>>> def receiver(request: httpx.Request) -> httpx.Response:
...     got.append(request.read())
...     return httpx.Response(200)
>>> target = AlertTarget("ops", "generic", "http://alerts.invalid/hook", secret="s")
>>> now = [1_800_000_000.0]
>>> with AlertManager([target], transport=httpx.MockTransport(receiver),
...                   group_wait_s=10, clock=lambda: now[0]) as manager:
...     for field in ("price", "user_id", "price"):
...         manager.submit({"kind": "anomaly", "stream": "behavior", "field": field})
...     now[0] += 10
...     manager.tick()
...     manager.open_incidents
1
>>> [(b["status"], len(b["signals"])) for b in map(orjson.loads, got)]
[('firing', 2)]
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from streamguard.alerts.delivery import TargetWorker
from streamguard.alerts.incidents import IncidentBook, validate_finding
from streamguard.alerts.targets import AlertTarget, Notification, targets_from_settings
from streamguard.events.signals import Signal
from streamguard.observability.alerts import AlertMetrics, finding_kind, stream_label
from streamguard.observability.registry import CollectorRegistry

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["SIGNALS_KIND", "AlertManager"]

log = logging.getLogger(__name__)


_MAX_RECORDS = 10_000  # incident records waiting to be published
#: ``kind`` of a worker's signal state record on the findings topic.
SIGNALS_KIND = "signals"


class AlertManager:
    """Correlates findings into incidents and delivers their notifications.

    Parameters
    ----------
    targets
        Where notifications go (see :func:`~streamguard.alerts.targets_from_settings`).
    metrics
        :class:`AlertMetrics` to update (a private registry if omitted).
    quiet_period_s, correlation_window_s, group_wait_s, update_interval_s, flap_window_s,
    signal_ttl_s
        The correlation rules' settings (see :class:`IncidentBook`).
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
        correlation_window_s: float = 120.0,
        group_wait_s: float = 10.0,
        update_interval_s: float = 600.0,
        flap_window_s: float = 600.0,
        signal_ttl_s: float = 30.0,
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
        self._book = IncidentBook(
            correlation_window_s=correlation_window_s,
            quiet_period_s=quiet_period_s,
            group_wait_s=group_wait_s,
            update_interval_s=update_interval_s,
            flap_window_s=flap_window_s,
            signal_ttl_s=signal_ttl_s,
            max_open=max_open,
        )
        self._records: deque[dict[str, Any]] = deque(maxlen=_MAX_RECORDS)
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
        self._open_labels: set[tuple[str, str]] = set()
        self._signal_streams: set[str] = set()
        self._signal_kinds: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, registry: CollectorRegistry, **kwargs: Any
    ) -> AlertManager:
        """The worker's manager: targets, correlation rules and outbox size from
        ``settings``, metrics in ``registry`` (the worker's /metrics registry).

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
            correlation_window_s=settings.alert_correlation_window_s,
            group_wait_s=settings.alert_group_wait_s,
            update_interval_s=settings.alert_update_interval_s,
            flap_window_s=settings.alert_flap_window_s,
            signal_ttl_s=settings.alert_signal_ttl_s,
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
            self._book.observe(finding, self._clock())
            if self._book.refused > refused:
                for name in self._workers:
                    self.metrics.dropped.labels(name, "incident_limit").inc()
            if self._book.group_wait_s <= 0:  # no waiting for the rest of a burst
                self._dispatch(self._book.tick(self._clock()))

    def submit_many(self, findings: Iterable[Mapping[str, Any] | Any]) -> None:
        """:meth:`submit` each finding."""
        for finding in findings:
            self.submit(finding)

    def update_signals(
        self,
        signals: Iterable[Signal],
        *,
        streams: Iterable[str],
        source: str = "local",
        counts: Mapping[str, tuple[int, int, dict[tuple[str, str | None], int]]] | None = None,
    ) -> None:
        """The active signals of ``streams`` (all of them) as ``source`` (a worker)
        reports them, with its running counters per stream (records in, quarantined,
        reasons by (code, field)); from any thread. An incident stays open while one of
        its signals is active on any source (see :class:`IncidentBook`)."""
        with self._lock:
            now = self._clock()
            self._book.observe_signals(signals, now, streams=streams, source=source, counts=counts)
            counts_by_kind: dict[str, int] = dict.fromkeys(self._signal_kinds, 0)
            for kind, count in self._book.active_by_kind(now).items():
                label = finding_kind(kind)
                counts_by_kind[label] = counts_by_kind.get(label, 0) + count
            self._signal_kinds.update(counts_by_kind)
            for label, count in counts_by_kind.items():
                self.metrics.active_signals.labels(label).set(count)
            if self._book.group_wait_s <= 0:
                self._dispatch(self._book.tick(now))

    def handle_record(self, record: Mapping[str, Any]) -> None:
        """One record of the findings topic: a finding (:meth:`submit`) or a worker's
        signal state (``kind`` :data:`SIGNALS_KIND`: :meth:`update_signals` for its
        stream, with its counters). Raises ``KeyError``/``ValueError``/``TypeError`` on
        a malformed one."""
        if record.get("kind") != SIGNALS_KIND:
            self.submit(record)
            return
        stream = str(record["stream"])
        signals = [Signal.from_dict({**s, "stream": stream}) for s in record["signals"]]
        reasons = {
            (str(r["code"]), r.get("field")): int(r["count"]) for r in record.get("reasons") or []
        }
        counts = (int(record["records_in"]), int(record["records_quarantined"]), reasons)
        self.update_signals(
            signals, streams=[stream], source=str(record["source"]), counts={stream: counts}
        )

    def tick(self) -> None:
        """Send what is due: firings after the group wait, updates, resolves."""
        with self._lock:
            self._dispatch(self._book.tick(self._clock()))

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Take over incidents from their latest topic records (a new owner of their
        streams): open ones stay open without a new firing. How many were taken."""
        taken = 0
        with self._lock:
            now = self._clock()
            for record in records:
                try:
                    taken += self._book.restore(record, now)
                except (KeyError, TypeError, ValueError):
                    log.warning("alerts: skipped an unreadable incident record")
            self._update_gauges()
        return taken

    def forget(self, streams: Iterable[str]) -> None:
        """Drop the incidents of ``streams`` (their owner is another worker now)."""
        with self._lock:
            self._book.forget(streams)
            self._update_gauges()

    def drain_records(self) -> list[dict[str, Any]]:
        """Incident records (the webhook body of each state change) not yet published."""
        with self._lock:
            records = list(self._records)
            self._records.clear()
        return records

    def _dispatch(self, notifications: list[Notification]) -> None:
        if not notifications:
            return  # no incident changed: the gauges are still right
        for notification in notifications:
            log.info(
                "incident %s %s: %s%s",
                notification.incident_id,
                notification.status,
                notification.body.get("summary", ""),
                "" if notification.notify else " (linked: not paged)",
            )
            self.metrics.notifications.labels(notification.status).inc()
            self._records.append(notification.body)
            for worker in self._workers.values():
                worker.offer(notification)
        self._update_gauges()

    def _update_gauges(self) -> None:
        open_counts = {key: 0 for key in self._open_labels}
        signal_counts = dict.fromkeys(self._signal_streams, 0)
        for incident in self._book.open_incidents():
            stream = stream_label(incident.stream)
            severity = incident.severity
            key = (stream, severity if severity in ("info", "error", "critical") else "warning")
            open_counts[key] = open_counts.get(key, 0) + 1
            signal_counts[stream] = signal_counts.get(stream, 0) + len(incident.signals)
        self._open_labels.update(open_counts)
        self._signal_streams.update(signal_counts)
        for (stream, severity), count in open_counts.items():
            self.metrics.incidents_open.labels(stream, severity).set(count)
        for stream, count in signal_counts.items():
            self.metrics.incident_signals.labels(stream).set(count)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_interval_s):
            try:
                self.tick()
            except Exception:  # keep resolving even if one tick fails
                log.exception("alerts: the incident tick failed")

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
