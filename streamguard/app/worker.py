"""``streamguard worker``: the production consumer.

Creates the topics it needs, serves /metrics, /healthz and /readyz, and runs the Faust
agents until SIGINT/SIGTERM. With ``STREAMGUARD_BROKER=embedded`` (the default) it starts
a private embedded broker first, which is handy for trying StreamGuard out; to run more
than one worker, start ``streamguard broker`` and point ``STREAMGUARD_BROKER`` at it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
from contextlib import ExitStack

from streamguard.alerts import AlertManager
from streamguard.config import Settings
from streamguard.contracts import ContractError, ContractSet, load_contracts
from streamguard.embed.base import Embedder
from streamguard.embed.process import ProcessEmbedder
from streamguard.observability.health import Health
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.server import MetricsServer
from streamguard.runtime.heap import CollectionTimer, tune_garbage_collector
from streamguard.runtime.native_threads import limit_blas_threads
from streamguard.wiring import EngineGroup, build_embedder, build_engines

__all__ = ["add_arguments", "run", "topic_layout"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard worker`` (everything else comes from settings)."""
    parser.add_argument(
        "--no-create-topics",
        action="store_true",
        help="do not create missing topics (production clusters that manage topics)",
    )


def topic_layout(settings: Settings, contracts: ContractSet | None = None) -> dict[str, int]:
    """Every topic the worker reads or writes, with its partition count (with the
    source and clean topics of the new streams ``contracts`` declare)."""
    names: tuple[str, ...] = (
        settings.topic_behavior,
        settings.topic_product,
        settings.topic_behavior_clean,
        settings.topic_product_clean,
        settings.topic_quarantine,
        settings.topic_findings,
        settings.topic_incidents,
        settings.topic_recommendations,
        settings.topic_inventory,
    )
    for contract in (contracts or ContractSet({})).new_streams():
        names += (str(contract.topic), str(contract.clean_topic))
    return dict.fromkeys(names, settings.partitions)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard worker``."""
    from streamguard.devtools.broker import EmbeddedBroker
    from streamguard.kafka.admin import create_topics

    try:  # an invalid contract stops the worker before anything starts
        contracts = load_contracts(settings.contracts)
    except ContractError as exc:
        print("streamguard worker: invalid contract, not starting:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 2
    for line in contracts.unsupported():
        log.warning("contract rule not evaluated: %s", line)
    with ExitStack() as stack:
        if settings.is_embedded:
            broker = EmbeddedBroker()
            broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap
            print(f"embedded broker: {broker.url}", file=sys.stderr, flush=True)
        else:
            bootstrap = settings.bootstrap_servers()
        options = settings.kafka_client_options()
        if not args.no_create_topics:
            mismatches = asyncio.run(
                create_topics(
                    bootstrap,
                    topic_layout(settings, contracts),
                    compacted={
                        settings.topic_recommendations,
                        settings.topic_incidents,
                        settings.topic_inventory,
                    },
                    replication_factor=settings.replication_factor,
                    **options,
                )
            )
            if mismatches and settings.topic_mismatch == "refuse":
                for mismatch in mismatches:
                    print(f"streamguard worker: {mismatch}", file=sys.stderr)
                print(
                    "streamguard worker: refusing to start (STREAMGUARD_TOPIC_MISMATCH=refuse):"
                    " alter the topics, or set STREAMGUARD_PARTITIONS /"
                    " STREAMGUARD_REPLICATION_FACTOR to match them",
                    file=sys.stderr,
                )
                return 2
        metrics, health = WorkerMetrics(), Health()
        server = MetricsServer(settings.metrics_host, settings.metrics_port, metrics, health)
        server.start()
        stack.callback(server.stop)
        log.info(
            "metrics on http://%s:%d/metrics; settings: %s",
            settings.metrics_host,
            server.port,
            settings.redacted(),
        )
        alerts = AlertManager.from_settings(settings, metrics.registry)
        alerts.start()
        stack.callback(alerts.stop)  # drains for a few seconds, then counts what it drops
        embedder = build_embedder(settings, isolated=True)
        if isinstance(embedder, ProcessEmbedder):
            stack.callback(embedder.close)  # after the engines' flush (the stack unwinds)
        engines = build_engines(
            settings, ("behavior", "product"), registry=metrics.registry, embedder=embedder
        )
        engines.start()
        stack.callback(engines.close)
        health.require("model")
        threading.Thread(
            target=_load_model, args=(embedder, health), name="streamguard-model", daemon=True
        ).start()
        return _run_faust(settings, bootstrap, metrics, health, engines, alerts, server, contracts)
    return 0  # pragma: no cover (ExitStack does not swallow)


def _load_model(embedder: Embedder, health: Health) -> None:
    """Load the embedding model off the event loop; ready only once it answers."""
    started = time.monotonic()
    try:
        embedder.embed(["warm-up"])
    except Exception:
        log.exception("the embedding model could not be loaded; the worker stays not ready")
        return
    log.info("embedding model ready in %.1f s", time.monotonic() - started)
    health.set_condition("model", True)


def _run_faust(
    settings: Settings,
    bootstrap: str,
    metrics: WorkerMetrics,
    health: Health,
    engines: EngineGroup,
    alerts: AlertManager,
    server: MetricsServer | None = None,
    contracts: ContractSet | None = None,
) -> int:
    import faust  # here, not at the top: `streamguard check` should not pay for it

    from streamguard.app.faust_app import build_app

    guard = build_app(
        settings,
        bootstrap,
        metrics,
        health,
        engines=engines,
        alerts=alerts,
        collector=CollectionTimer().install(),
        contracts=contracts,
    )
    if server is not None and guard.inventory is not None:
        server.add_json_route("/api/inventory", guard.inventory.api_body)
    worker = faust.Worker(
        guard.app,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
    )
    tune_garbage_collector()  # see streamguard.runtime.heap: ~17% of the CPU went to the collector
    limit_blas_threads()  # runtime.native_threads: a spinning BLAS thread took ~17% of a core
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        health.set_live(False)
        return int(exc.code or 0)
    finally:
        try:
            guard.save_recommender()  # the model survives a clean restart up to its last event
        except OSError as exc:
            log.error("could not save the recommender snapshot: %s", exc)
    return 0
