"""Where generated records go: Kafka topics or JSON-lines files.

:func:`produce` paces records (a :class:`TokenBucket`), bounds what is in flight and
counts deliveries; the Kafka I/O itself is :func:`streamguard.kafka.producer.open_sender`.

JSON-lines files hold one raw message value per line. Every value the generator makes is
written as is, except that a newline byte inside a value (only possible in ``not_json``
garbage; JSON text never holds a raw newline) is written as the two characters ``\\n``
(and carriage return as ``\\r``) so one record stays one line. Values that are not valid
UTF-8 (``invalid_utf8``, some ``not_json``) are written as their raw bytes: read such
files in binary. ``too_large`` values are simply long lines.

Examples
--------
>>> import io
>>> from streamguard.sources.faults import GeneratedRecord
>>> rec = GeneratedRecord("behavior", b"u1", b'{"a":1}', None, "valid", None)
>>> buf = io.BytesIO()
>>> write_jsonl([rec], {"behavior": buf}).sent, buf.getvalue()
(1, b'{"a":1}\\n')
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from streamguard.kafka.producer import MAX_REQUEST_SIZE, RecordSender, open_sender
from streamguard.sources.faults import GeneratedRecord
from streamguard.sources.ratelimit import TokenBucket

__all__ = [
    "MAX_REQUEST_SIZE",
    "ProduceStats",
    "escape_line",
    "produce",
    "write_jsonl",
]

logger = logging.getLogger(__name__)


@dataclass
class ProduceStats:
    """What was sent: totals, per stream, per fault (``valid`` for none), per outcome."""

    sent: int = 0
    failed: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    by_stream: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    by_expected: Counter[str] = field(default_factory=Counter)

    def add(self, record: GeneratedRecord) -> None:
        """Count one record as sent."""
        self.sent += 1
        self.bytes += len(record.value)
        self.by_stream[record.stream] += 1
        self.by_fault[record.fault or "valid"] += 1
        self.by_expected[record.expected] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "bytes": self.bytes,
            "elapsed_s": round(self.elapsed_s, 3),
            "by_stream": dict(self.by_stream),
            "by_fault": dict(self.by_fault),
            "by_expected": dict(self.by_expected),
        }

    def summary(self) -> str:
        """A short human summary (a few lines)."""
        rate = self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"sent {self.sent} records ({self.bytes / 1e6:.1f} MB) in {self.elapsed_s:.1f}s"
            f" ({rate:.0f}/s), {self.failed} failed",
            "  streams: " + _fmt(self.by_stream),
            "  expected: " + _fmt(self.by_expected),
        ]
        faults = Counter({k: v for k, v in self.by_fault.items() if k != "valid"})
        lines.append("  faults: " + (_fmt(faults) if faults else "none"))
        return "\n".join(lines)


def _fmt(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def escape_line(value: bytes) -> bytes:
    r"""``value`` with newline / carriage return bytes escaped, so it fits on one line.

    >>> escape_line(b"a\nb\rc")
    b'a\\nb\\rc'
    """
    return value.replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def write_jsonl(
    records: Iterable[GeneratedRecord],
    outputs: Mapping[str, IO[bytes]],
    *,
    labels: IO[bytes] | None = None,
    rate: float | None = None,
    duration_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> ProduceStats:
    """Write each record's value as one line to ``outputs[record.stream]``.

    ``labels`` receives one JSON line per record: stream, key, fault, expected,
    expected_code and ``line`` (1-based line number in that stream's output).
    """
    stats = ProduceStats()
    bucket = TokenBucket(rate, clock=clock) if rate else None
    lines: Counter[str] = Counter()
    started = clock()
    for record in records:
        if duration_s is not None and clock() - started >= duration_s:
            break
        out = outputs.get(record.stream)
        if out is None:
            raise ValueError(f"no output for stream {record.stream!r}")
        if bucket is not None:
            bucket.acquire_blocking(sleep=sleep)
        out.write(escape_line(record.value) + b"\n")
        lines[record.stream] += 1
        if labels is not None:
            labels.write(orjson.dumps({**record.label(), "line": lines[record.stream]}) + b"\n")
        stats.add(record)
    stats.elapsed_s = clock() - started
    return stats


async def _iterate(
    records: Iterable[GeneratedRecord] | AsyncIterable[GeneratedRecord],
) -> AsyncIterator[GeneratedRecord]:
    if isinstance(records, AsyncIterable):
        async for record in records:
            yield record
    else:
        for record in records:
            yield record


async def produce(
    records: Iterable[GeneratedRecord] | AsyncIterable[GeneratedRecord],
    bootstrap: str,
    topics: Mapping[str, str],
    *,
    rate: float | None = None,
    client_options: Mapping[str, Any] | None = None,
    duration_s: float | None = None,
    progress_interval_s: float = 5.0,
    max_in_flight: int = 10_000,
) -> ProduceStats:
    """Send ``records`` to Kafka: ``topics`` maps each stream to its topic.

    acks=all, no idempotence (the embedded broker does not support it), a 3 MiB max
    request so ``too_large`` faults get through, linger 5 ms. ``rate`` (records/s) is
    enforced with a :class:`TokenBucket`; ``duration_s`` stops early. Deliveries are
    awaited before returning; failures are counted in ``failed`` (and logged). Kafka
    errors outside a single delivery raise :mod:`streamguard.kafka.errors` types.
    """
    async with open_sender(bootstrap, client_options=client_options) as producer:
        return await _send_all(
            producer,
            records,
            topics,
            rate=rate,
            duration_s=duration_s,
            progress_interval_s=progress_interval_s,
            max_in_flight=max_in_flight,
        )


async def _send_all(
    producer: RecordSender,
    records: Iterable[GeneratedRecord] | AsyncIterable[GeneratedRecord],
    topics: Mapping[str, str],
    *,
    rate: float | None,
    duration_s: float | None,
    progress_interval_s: float,
    max_in_flight: int,
) -> ProduceStats:
    stats = ProduceStats()
    bucket = TokenBucket(rate) if rate else None
    in_flight: deque[tuple[GeneratedRecord, asyncio.Future[Any]]] = deque()
    started = last_report = time.monotonic()

    async def settle(record: GeneratedRecord, future: asyncio.Future[Any]) -> None:
        try:
            await future
        except Exception as exc:  # a delivery failure: count it, keep going
            stats.failed += 1
            if stats.failed <= 5:
                logger.error("delivery of a %s record failed: %r", record.stream, exc)
        else:
            stats.add(record)

    try:
        async for record in _iterate(records):
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            if now - last_report >= progress_interval_s:
                last_report = now
                logger.info(
                    "produced %d records (%.0f/s), %d failed, faults %s",
                    stats.sent,
                    stats.sent / (now - started),
                    stats.failed,
                    _fmt(Counter({k: v for k, v in stats.by_fault.items() if k != "valid"})),
                )
            if bucket is not None:
                await bucket.acquire()
            topic = topics[record.stream]
            future = await producer.send(topic, record.value, key=record.key or None)
            in_flight.append((record, future))
            while in_flight and (len(in_flight) > max_in_flight or in_flight[0][1].done()):
                await settle(*in_flight.popleft())
        await producer.flush()
        while in_flight:
            await settle(*in_flight.popleft())
    finally:
        stats.elapsed_s = time.monotonic() - started
    return stats
