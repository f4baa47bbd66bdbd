"""The Faust app's configuration, from StreamGuard's :class:`~streamguard.config.Settings`.

Every Faust knob the worker sets is here, in one call: brokers and credentials, the
in-memory table store, raw topic serializers (the batch flow encodes itself), and the
consumer and producer limits sized from the largest record allowed.
"""

from __future__ import annotations

from typing import Any

import faust

from streamguard.config import Settings
from streamguard.runtime.ports import free_port

__all__ = ["broker_urls", "create_faust_app", "credentials"]


def broker_urls(bootstrap: str) -> list[str]:
    """Faust's broker URLs for a ``host:port[,host:port]`` bootstrap list.

    >>> broker_urls("a:9092,b:9092")
    ['kafka://a:9092', 'kafka://b:9092']
    """
    return [f"kafka://{host}" for host in bootstrap.split(",") if host]


def credentials(settings: Settings) -> Any:
    """Faust's credentials for ``settings.security_protocol`` (None for plaintext)."""
    options = settings.kafka_client_options()
    protocol = settings.security_protocol
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"),
            mechanism=options["sasl_mechanism"],
        )
    return None


def create_faust_app(settings: Settings, bootstrap: str) -> faust.App:
    """A Faust app (not started) configured from ``settings`` for ``bootstrap``."""
    s = settings
    return faust.App(
        s.app_id,
        broker=broker_urls(bootstrap),
        broker_credentials=credentials(s),
        store="memory://",
        datadir=str(s.data_dir),
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        # Faust binds a web server even when disabled: keep it on loopback.
        web_enabled=False,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=s.faust_web_port or free_port(),
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=s.heartbeat_interval_s,
        broker_rebalance_timeout=s.session_timeout_s,
        broker_commit_interval=s.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=4 * s.max_record_bytes,
        broker_max_poll_records=s.max_poll_records,
        producer_acks=-1,
        producer_linger=s.producer_linger_ms / 1000.0,
        producer_max_request_size=4 * s.max_record_bytes,
        producer_max_batch_size=s.producer_batch_bytes,
        table_standby_replicas=0,
    )
