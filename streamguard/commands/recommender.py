"""``streamguard recommender``: the recommender as one service for every worker.

Reads every partition of the clean behaviour, clean product and quarantine topics with
one consumer outside any group (:class:`~streamguard.kafka.partition_reader.PartitionReader`),
feeds one model (:class:`~streamguard.recommender.feed.RecommenderFeed`), publishes the
lists to the ``recommendations`` topic and snapshots the model, with the offsets it has
learned up to, to ``<STREAMGUARD_DATA_DIR>/recommender/service.json``; a restart resumes
at those offsets. Run exactly one (a StatefulSet of one replica on a persistent volume in
Kubernetes), and start the workers with ``STREAMGUARD_RECOMMENDER_ENABLED=false``.
SIGINT/SIGTERM publish and snapshot once more, then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from streamguard.kafka.errors import KafkaRequestError, KafkaUnavailableError, kafka_errors
from streamguard.kafka.partition_reader import PartitionReader
from streamguard.kafka.producer import open_sender
from streamguard.recommender.content import ContentIndex
from streamguard.recommender.content_embedder import content_embedder
from streamguard.recommender.feed import FeedTopics, RecommenderFeed, load_service
from streamguard.recommender.snapshot import SnapshotError

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["add_arguments", "run", "snapshot_path"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard recommender`` (everything else comes from settings)."""
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until Ctrl-C / SIGTERM)",
    )


def snapshot_path(settings: Settings) -> Path:
    """The service's snapshot: its model and the input offsets that model covers."""
    return settings.data_dir / "recommender" / "service.json"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard recommender``."""
    if settings.is_embedded:
        print(
            "streamguard recommender: set STREAMGUARD_BROKER=kafka://HOST:PORT "
            "(it reads the clean topics the workers write)",
            file=sys.stderr,
        )
        return 2
    path = snapshot_path(settings)
    try:
        service, positions = load_service(
            path,
            k=settings.recommender_k,
            min_interval_s=settings.recommender_min_interval_s,
            algorithm=settings.recommender_algorithm,
        )
    except SnapshotError as exc:
        print(f"streamguard recommender: cannot restore {path}: {exc}", file=sys.stderr)
        return 1
    if settings.recommender_content and hasattr(service.model, "content"):
        embedder = content_embedder(
            settings.model, settings.embedder_backend, settings.onnx_cache_dir
        )
        service.use_content(ContentIndex(embedder), settings.recommender_content_batch)
    log.info(
        "recommender model %s (%d events learned) resumes at %d partition positions; "
        "snapshots to %s",
        service.model.version,
        service.model.events_learned,
        len(positions),
        path,
    )
    topics = FeedTopics(
        behavior=settings.topic_behavior_clean,
        product=settings.topic_product_clean,
        quarantine=settings.topic_quarantine,
        product_source=settings.topic_product,
        recommendations=settings.topic_recommendations,
    )
    feed = RecommenderFeed(
        service,
        topics,
        positions=positions,
        snapshot_path=path,
        anomaly_threshold=settings.anomaly_threshold,
        snapshot_interval_s=settings.recommender_snapshot_interval_s,
    )
    try:
        with kafka_errors():
            asyncio.run(_serve(feed, settings, args.duration))
    except (KafkaUnavailableError, KafkaRequestError) as exc:
        print(f"streamguard recommender: Kafka: {exc}", file=sys.stderr)
        return 1
    log.info(
        "recommender stopped: %d events learned, %d lists published",
        service.model.events_learned,
        feed.published,
    )
    return 0


async def _serve(feed: RecommenderFeed, settings: Settings, duration: float | None) -> None:
    bootstrap = settings.bootstrap_servers()
    options = settings.kafka_client_options()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    reader = PartitionReader(bootstrap, feed.topics.inputs, **options)
    async with open_sender(bootstrap, client_options=options) as sender:
        await feed.run(reader, sender, stop)
