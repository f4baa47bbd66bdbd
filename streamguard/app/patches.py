"""Patches to Faust internals the worker relies on, each for a reason Faust has no knob.

- :func:`set_fetch_max_wait`: Faust hard-codes the group consumer's fetch wait;
- :func:`guard_commits`: commits never pass what the offset ledger counts handled;
- :func:`verify_changelog_ends`: table recovery reads to the true end of a changelog.

Each wraps one private attribute of the app's consumer, before the app starts; a Faust
upgrade that renames one fails loudly here (AttributeError at build time).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import faust
from faust.types import TP

from streamguard.kafka.admin import true_end_offsets
from streamguard.kafka.ledger import OffsetLedger

__all__ = ["guard_commits", "set_fetch_max_wait", "verify_changelog_ends"]


def set_fetch_max_wait(app: faust.App, wait_ms: int) -> None:
    """Faust creates its group consumer with ``fetch_max_wait_ms=1500`` and no knob.

    Kafka answers a fetch as soon as data arrives, but a broker that holds it to the
    deadline (the embedded one does) delays every record by up to that much. Wrap
    ``app``'s consumer factory (before it starts) to set ``wait_ms``.
    """
    consumer: Any = app.consumer
    thread: Any = consumer._thread  # noqa: SLF001 - no public hook
    create = thread._create_worker_consumer  # noqa: SLF001

    def create_worker_consumer(transport: Any) -> Any:
        client = create(transport)
        client._fetch_max_wait_ms = wait_ms  # noqa: SLF001 - read by start()
        return client

    thread._create_worker_consumer = create_worker_consumer  # noqa: SLF001


def guard_commits(
    app: faust.App, ledger: OffsetLedger, sources: Collection[str], *, by_ledger: bool
) -> None:
    """Never commit past a record the pipeline has not handled (see the ledger).

    ``by_ledger`` (the batch intake is on): Faust acks nothing of the ``sources``
    topics, so their commits are the ledger's frontier (once it moved past its start,
    which came from a commit and may be stale); Faust's acks still govern every other
    topic, clamped by the ledger where it tracks them.
    """
    consumer: Any = app.consumer
    new_offset = consumer._new_offset  # noqa: SLF001 - Faust has no public hook

    def guarded_new_offset(tp: TP) -> int | None:
        limit = ledger.committable(tp.topic, tp.partition)
        if by_ledger and tp.topic in sources:
            return limit if ledger.advanced(tp.topic, tp.partition) else None
        offset: int | None = new_offset(tp)
        if offset is None or limit is None:
            return offset
        return min(offset, limit)

    consumer._new_offset = guarded_new_offset  # noqa: SLF001


def verify_changelog_ends(
    app: faust.App, bootstrap: str, client_options: Mapping[str, Any]
) -> None:
    """Make table recovery read to the true end of each changelog partition.

    Some Kafka-protocol brokers (the embedded Tansu among them) report a partition's
    end offset as the first offset of its last batch + 1; Faust would then declare
    recovery done early and silently lose the last table updates. We ask the broker
    and then read forward from there (see :func:`streamguard.kafka.admin.true_end_offsets`).
    """
    consumer: Any = app.consumer
    reported_highwaters = consumer.highwaters
    options = dict(client_options)

    async def highwaters(*partitions: TP) -> Mapping[TP, int]:
        reported = await reported_highwaters(*partitions)
        true = await true_end_offsets(
            bootstrap, [(tp.topic, tp.partition) for tp in partitions], **options
        )
        return {
            tp: max(reported.get(tp, 0), true.get((tp.topic, tp.partition), 0)) for tp in partitions
        }

    consumer.highwaters = highwaters
