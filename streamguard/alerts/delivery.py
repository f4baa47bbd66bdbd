"""Delivering notifications to one target: a bounded outbox and a thread that drains it.

:meth:`TargetWorker.offer` renders the notification and appends it to the outbox; it
never waits on the network, so a dead receiver can never stall the stream. When the
outbox is full the *oldest* waiting notification is dropped (and counted): memory stays
bounded at ``max_outbox`` bodies, and the gauges report what is waiting. The worker's
thread sends the head of the outbox (FIFO, so a ``resolved`` never overtakes its
``firing``), waiting for the target's token bucket; a connection error, timeout, 429 or
5xx is retried with exponential backoff and jitter up to ``max_attempts``; other 4xx
answers are final. Log lines name the target, never its URL or secret.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from streamguard.alerts.targets import AlertTarget, Notification, render
from streamguard.observability.alerts import AlertMetrics

__all__ = ["TargetWorker", "TokenBucket"]

log = logging.getLogger(__name__)


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``capacity`` saved up.

    >>> bucket = TokenBucket(rate_per_s=1.0, capacity=2, now=0.0)
    >>> bucket.take(0.0), bucket.take(0.0), bucket.wait_time(0.0)
    (True, True, 1.0)
    >>> bucket.take(0.5), bucket.take(1.0)
    (False, True)
    """

    def __init__(self, rate_per_s: float, capacity: int, now: float) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("rate_per_s must be > 0 and capacity >= 1")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._tokens = float(capacity)
        self._updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._updated, 0.0)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)
        self._updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token is available (0.0: one is)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate_per_s

    def take(self, now: float) -> bool:
        """Take a token if one is available."""
        if self.wait_time(now) > 0:
            return False
        self._tokens -= 1.0
        return True


@dataclass(eq=False)
class _Item:
    status: str
    body: bytes
    headers: dict[str, str]
    attempts: int = 0
    due: float = 0.0
    waited_for_rate: bool = False


class TargetWorker:
    """The outbox and delivery thread of one :class:`AlertTarget`."""

    def __init__(
        self,
        target: AlertTarget,
        *,
        metrics: AlertMetrics,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
        max_outbox: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_wait_s: float = 0.5,
    ) -> None:
        if max_outbox < 1 or backoff_base_s <= 0 or backoff_max_s < backoff_base_s:
            raise ValueError("max_outbox >= 1 and 0 < backoff_base_s <= backoff_max_s needed")
        self.target = target
        self.max_outbox = max_outbox
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._metrics = metrics
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._max_wait_s = max_wait_s
        self._client = httpx.Client(transport=transport, trust_env=trust_env)
        self._bucket = TokenBucket(target.rate_limit_per_minute / 60.0, target.burst, monotonic())
        self._outbox: deque[_Item] = deque()
        self._bytes = 0
        self._in_flight = False
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._thread = threading.Thread(
            target=self._run, name=f"streamguard-alerts-{target.name}", daemon=True
        )

    # --- the caller's side (any thread, never blocks on I/O) ---------------------------------

    def offer(self, notification: Notification) -> None:
        """Queue one notification; drops the oldest waiting one if the outbox is full."""
        rendered = render(notification, self.target)
        if rendered is None or not notification.notify:
            return  # not for this kind (PagerDuty updates) or a linked incident
        body, headers = rendered
        name = self.target.name
        with self._cond:
            while len(self._outbox) >= self.max_outbox:
                dropped = self._outbox.popleft()
                self._bytes -= len(dropped.body)
                self._metrics.dropped.labels(name, "outbox_full").inc()
                log.warning("alert target %s: outbox full, dropped a %s", name, dropped.status)
            self._outbox.append(_Item(notification.status, body, headers))
            self._bytes += len(body)
            self._report()
            self._cond.notify()

    @property
    def depth(self) -> int:
        """Notifications waiting (including one being sent)."""
        with self._cond:
            return len(self._outbox) + (1 if self._in_flight else 0)

    def wake(self) -> None:
        """Re-check the outbox now (e.g. after a test advanced the clock)."""
        with self._cond:
            self._cond.notify()

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued for up to ``timeout_s``, then stop; the rest is dropped."""
        with self._cond:
            self._closing = True
            self._deadline = self._monotonic() + timeout_s
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s + self.target.timeout_s + 1.0)
        with self._cond:
            if self._outbox:
                self._metrics.dropped.labels(self.target.name, "shutdown").inc(len(self._outbox))
                log.warning(
                    "alert target %s: %d notification(s) undelivered at shutdown",
                    self.target.name,
                    len(self._outbox),
                )
            self._outbox.clear()
            self._bytes = 0
            self._report()
        self._client.close()

    # --- the delivery thread ----------------------------------------------------------------

    def _report(self) -> None:
        name = self.target.name
        self._metrics.outbox_depth.labels(name).set(len(self._outbox) + int(self._in_flight))
        self._metrics.outbox_bytes.labels(name).set(self._bytes)

    def _next(self) -> _Item | None:
        """Wait for a sendable item and take it (None: time to stop)."""
        with self._cond:
            while True:
                now = self._monotonic()
                if self._closing and (not self._outbox or now >= self._deadline):
                    return None
                if not self._outbox:
                    self._cond.wait(self._max_wait_s)
                    continue
                item = self._outbox[0]
                wait = item.due - now
                if wait <= 0:
                    wait = self._bucket.wait_time(now)
                    if wait > 0 and not item.waited_for_rate:
                        item.waited_for_rate = True
                        self._metrics.rate_limited.labels(self.target.name).inc()
                if wait > 0:
                    self._cond.wait(min(wait, self._max_wait_s))
                    continue
                self._bucket.take(now)
                self._outbox.popleft()
                self._bytes -= len(item.body)
                self._in_flight = True
                return item

    def _run(self) -> None:
        while (item := self._next()) is not None:
            item.attempts += 1
            verdict, retry_after = self._send(item)
            with self._cond:
                self._in_flight = False
                if verdict == "retry" and item.attempts < self.target.max_attempts:
                    item.due = self._monotonic() + self._backoff(item.attempts, retry_after)
                    self._outbox.appendleft(item)  # FIFO: it stays ahead of later ones
                    self._bytes += len(item.body)
                elif verdict != "sent":
                    self._metrics.failed.labels(self.target.name).inc()
                    log.error(
                        "alert target %s: gave up on a %s notification after %d attempt(s)",
                        self.target.name,
                        item.status,
                        item.attempts,
                    )
                self._report()

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempts - 1))
        delay *= self._rng.uniform(0.5, 1.0)  # jitter: receivers recovering see no herd
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def _send(self, item: _Item) -> tuple[str, float | None]:
        """POST one body: ``("sent" | "retry" | "fail", retry_after_s)``."""
        name = self.target.name
        try:
            response = self._client.post(
                self.target.url,
                content=item.body,
                headers=item.headers,
                timeout=self.target.timeout_s,
            )
        except httpx.TimeoutException:
            reason = "timeout"
        except httpx.ConnectError:
            reason = "connect"
        except httpx.HTTPError as exc:
            # The exception text may quote the URL (a token): log its type only.
            reason = "other"
            log.debug("alert target %s: %s", name, type(exc).__name__)
        else:
            code = response.status_code
            if 200 <= code < 300:
                self._metrics.sent.labels(name, item.status).inc()
                return "sent", None
            retryable = code >= 500 or code in (408, 429)
            if code >= 500 or code == 429:
                reason = "http_5xx" if code >= 500 else "http_429"
            else:  # redirects are not followed: a moved hook is a configuration error
                reason = "http_4xx" if code >= 400 else "other"
            self._metrics.attempt_errors.labels(name, reason).inc()
            log.warning("alert target %s: HTTP %d (attempt %d)", name, code, item.attempts)
            return ("retry" if retryable else "fail"), _retry_after(response)
        self._metrics.attempt_errors.labels(name, reason).inc()
        log.warning("alert target %s: %s (attempt %d)", name, reason, item.attempts)
        return "retry", None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
