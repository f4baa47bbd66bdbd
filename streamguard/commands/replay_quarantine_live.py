"""``streamguard replay-quarantine --from-topic TOPIC``: replay a range of the quarantine topic.

Reads the chosen partitions / offsets / time window of TOPIC
(:mod:`streamguard.kafka.range_reader`; nothing is committed, the topic is not changed)
and runs each quarantine record through today's pipeline. A record that now passes goes
to its stream's clean topic, keyed as the worker keys it (``user_id`` / ``product_id``),
with ``_dq.replayed_from`` = the quarantine record's topic/partition/offset.

Exactly once per source record: the original source position of every delivered record
is written to the compacted topic ``STREAMGUARD_TOPIC_REPLAYED`` (default
``streamguard.replayed``, key ``topic/partition/offset``), *after* the clean records are
acknowledged; a run reads it first and skips what is there, so overlapping runs (one
after the other) deliver each source record once. Runs at the same time are not
coordinated: run one at a time. A crash between the two writes may deliver a record
again on the next run (at-least-once, like the worker; the copies share ``_dq.source``).

Records that still fail are not written back to the quarantine topic (they are already
there); they are counted by today's reason, and with ``--out DIR`` written to
``DIR/quarantine.jsonl`` with those reasons (``DIR/clean.jsonl`` then holds copies of
what was delivered, and ``DIR/report.json`` the counts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from streamguard.commands.replay_quarantine import (
    PROGRESS_EVERY_S,
    ReplayFiles,
    StreamRouter,
    route,
)
from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.events.records import SourcePosition, format_ts
from streamguard.kafka.admin import create_topics, ensure_topics
from streamguard.kafka.errors import KafkaRequestError, KafkaUnavailableError, kafka_errors
from streamguard.kafka.producer import open_sender
from streamguard.kafka.range_reader import TopicSlice, read_slice
from streamguard.kafka.topic_reader import read_latest
from streamguard.pipeline import RecordPipeline
from streamguard.quarantine import QuarantineReplayer, format_table, source_key

__all__ = ["clean_topics", "replay_topic", "run_live"]

log = logging.getLogger(__name__)


async def _delivered_before(bootstrap: str, settings: Settings, **options: Any) -> set[str]:
    """Create the compacted topic of replayed positions if needed; read its keys."""
    topic = settings.topic_replayed
    with kafka_errors():
        mismatches = await create_topics(
            bootstrap,
            {topic: 1},
            compacted={topic},
            replication_factor=settings.replication_factor,
            **options,
        )
    partitions = mismatches[0].partitions if mismatches else 1
    latest = await read_latest(bootstrap, topic, partitions, **options)
    return {key.decode("utf-8", "replace") for key in latest}


def clean_topics(settings: Settings, contracts: ContractSet | None) -> dict[str, str]:
    """Each stream's clean topic: the configured ones, ``<topic>.clean`` for a stream a
    contract declares.

    >>> clean_topics(Settings(), None)
    {'behavior': 'events.behavior.clean', 'product': 'events.product.clean'}
    """
    topics = {"behavior": settings.topic_behavior_clean, "product": settings.topic_product_clean}
    for contract in (contracts or ContractSet({})).new_streams():
        if contract.clean_topic is not None:
            topics[contract.stream] = contract.clean_topic
    return topics


async def replay_topic(
    bootstrap: str,
    wanted: TopicSlice,
    settings: Settings,
    pipeline_for: Callable[[str], RecordPipeline],
    *,
    stream: str | None = None,
    contracts: ContractSet | None = None,
    files: ReplayFiles | None = None,
    progress: IO[str] | None = None,
) -> QuarantineReplayer:
    """Replay ``wanted``; deliver what now passes to the clean topics; return the replayer
    (its ``tally`` holds the counts). ``stream``: only that stream's records (it must
    have a clean topic); ``contracts``: their new streams are replayed too."""
    options = settings.kafka_client_options()
    clean_topic = clean_topics(settings, contracts)
    if stream is not None and stream not in clean_topic:
        raise ValueError(f"stream {stream!r} has no clean topic (its contract names no topic)")
    router = StreamRouter.from_settings(settings, contracts, chosen=stream)
    delivered = await _delivered_before(bootstrap, settings, **options)
    await ensure_topics(
        bootstrap,
        clean_topic.values(),
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        client_options=options,
    )
    replayer = QuarantineReplayer(pipeline_for, delivered=delivered)
    started = last_progress = time.monotonic()
    async with open_sender(bootstrap, client_options=options) as sender:
        async for batch in read_slice(bootstrap, wanted, **options):
            sent: list[asyncio.Future[Any]] = []
            ledger: list[tuple[bytes, bytes]] = []
            for record in batch:
                position = SourcePosition(record.topic, record.partition, record.offset)
                decision, _ = route(replayer, record.value, position, router, files)
                if decision is None or decision.value is None or decision.kind != "moved":
                    continue
                topic = clean_topic[decision.stream]
                sent.append(await sender.send(topic, decision.value, decision.key))
                entry = {
                    "source": decision.source.as_dict(),
                    "replayed_from": position.as_dict(),
                    "clean_topic": topic,
                    "replayed_at": format_ts(datetime.now(UTC)),
                }
                ledger.append((source_key(decision.source).encode(), orjson.dumps(entry)))
            # The positions are recorded only once their clean records are acknowledged.
            await asyncio.gather(*sent)
            acks = [await sender.send(settings.topic_replayed, v, k) for k, v in ledger]
            await asyncio.gather(*acks)
            now = time.monotonic()
            if progress is not None and now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                tally = replayer.tally
                print(
                    f"  ... {tally.read:,} records ({tally.read / (now - started):,.0f}/s),"
                    f" {tally.moved_to_clean:,} moved to clean",
                    file=progress,
                )
    return replayer


def _bootstrap(args: argparse.Namespace, settings: Settings) -> str | None:
    if args.bootstrap:
        return str(args.bootstrap)
    if settings.is_embedded:
        return None
    return settings.bootstrap_servers()


def run_live(
    args: argparse.Namespace,
    settings: Settings,
    pipeline_for: Callable[[str], RecordPipeline],
    contracts: ContractSet | None = None,
) -> int:
    """Live mode of ``streamguard replay-quarantine`` (arguments already checked)."""
    bootstrap = _bootstrap(args, settings)
    if bootstrap is None:
        print(
            "streamguard replay-quarantine: the broker is 'embedded', whose address is only"
            " known once it runs: pass --bootstrap HOST:PORT or set"
            " STREAMGUARD_BROKER=kafka://HOST:PORT",
            file=sys.stderr,
        )
        return 2
    wanted = TopicSlice(
        args.from_topic,
        partitions=args.partition,
        start=args.from_offset,
        end=args.to_offset,
        since_s=args.since,
        until_s=args.until,
    )
    if args.stream is not None and args.stream not in clean_topics(settings, contracts):
        print(
            f"streamguard replay-quarantine: stream {args.stream!r} has no clean topic"
            " (its contract names no Kafka topic)",
            file=sys.stderr,
        )
        return 2
    out_dir: Path | None = args.out
    started = time.monotonic()
    files: ReplayFiles | None = None
    try:
        with contextlib.ExitStack() as stack, kafka_errors():
            if out_dir is not None:
                files = stack.enter_context(ReplayFiles(out_dir))
            replayer = asyncio.run(
                replay_topic(
                    bootstrap,
                    wanted,
                    settings,
                    pipeline_for,
                    stream=args.stream,
                    contracts=contracts,
                    files=files,
                    progress=sys.stderr,
                )
            )
    except (KafkaUnavailableError, KafkaRequestError, TimeoutError) as exc:
        print(f"streamguard replay-quarantine: Kafka: {exc}", file=sys.stderr)
        return 2
    report = {
        "mode": "live",
        "input": {
            "topic": wanted.topic,
            "partitions": wanted.partitions,
            "from_offset": wanted.start,
            "to_offset": wanted.end,
            "since": args.since,
            "until": args.until,
        },
        "stream": args.stream,
        "replayed_topic": settings.topic_replayed,
        **replayer.tally.report(),
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    if files is not None:
        report["files"] = files.paths()
        files.write_report(report)
    print(format_table(report, f"StreamGuard replay-quarantine: {wanted.topic} (live)"))
    print("  still-failing records stay where they are in the quarantine topic")
    return 0
