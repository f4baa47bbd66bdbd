"""Read a whole (small, compacted) topic to its end: the latest value of every key.

The worker uses it to take over the open incidents of a stream from
``streamguard.incidents`` (keyed by incident id, compacted) when it becomes the stream's
owner. Uses the true end offsets (:func:`~streamguard.kafka.admin.true_end_offsets`) and
exact range reads, so it ends on every broker, including the embedded one.
"""

from __future__ import annotations

from typing import Any

from streamguard.kafka.admin import true_end_offsets
from streamguard.kafka.side_reader import read_range

__all__ = ["read_latest"]


async def read_latest(
    bootstrap: str, topic: str, partitions: int, *, timeout_s: float = 30.0, **client_options: Any
) -> dict[bytes, bytes]:
    """The latest value of every key of ``topic`` (partitions ``0..partitions-1``);
    keys whose latest record is a tombstone are left out. Raises ``TimeoutError``."""
    ends = await true_end_offsets(
        bootstrap,
        [(topic, p) for p in range(partitions)],
        timeout_s=timeout_s,
        **client_options,
    )
    latest: dict[bytes, bytes | None] = {}
    for (name, partition), end in sorted(ends.items()):
        if end <= 0:
            continue
        async for batch in read_range(
            bootstrap, name, partition, 0, end, stall_timeout_s=timeout_s, **client_options
        ):
            for record in batch:
                if record.key is not None:
                    latest[record.key] = record.value
    return {key: value for key, value in latest.items() if value is not None}
