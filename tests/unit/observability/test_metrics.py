"""Worker metrics (counts, bounded labels) and the HTTP server (/metrics, /healthz, /readyz)."""

from __future__ import annotations

import gc
import random
import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from streamguard.events.models import BehaviorEvent, ProductEvent
from streamguard.events.records import (
    CORRECTION_RULES,
    REASON_CODES,
    Correction,
    Outcome,
    Reason,
    SourcePosition,
)
from streamguard.observability.health import Health
from streamguard.observability.metrics import (
    LATENCY_BUCKETS,
    OTHER,
    WorkerMetrics,
    bounded_field,
    observe_many,
)
from streamguard.observability.server import MetricsServer
from streamguard.pipeline import RecordPipeline
from streamguard.runtime.heap import CollectionTimer

SCHEMA_FIELDS = set(BehaviorEvent.model_fields) | set(ProductEvent.model_fields)
METRIC_NAMES = (
    "streamguard_records_in_total",
    "streamguard_records_out_total",
    "streamguard_quarantine_reasons_total",
    "streamguard_corrections_total",
    "streamguard_batch_processing_seconds",
    "streamguard_batch_records",
    "streamguard_record_latency_seconds",
    "streamguard_consumer_lag_records",
    "streamguard_worker_ready",
    "streamguard_catalogue_products",
)


def outcomes() -> list[Outcome]:
    """A realistic batch: 2 valid, 2 corrected, 3 quarantined."""
    pipeline = RecordPipeline("behavior", clock=lambda: 1_800_000_000.0)
    base = {
        "event_type": "view",
        "user_id": "u",
        "product_id": "p",
        "ts": "2026-11-01T10:00:00Z",
    }
    raws = [
        orjson.dumps({**base, "event_id": "a"}),
        orjson.dumps({**base, "event_id": "b", "platform": "web"}),
        orjson.dumps({**base, "event_id": "c", "platform": "iOS"}),
        orjson.dumps({**base, "event_id": "d", "platform": "WEB", "ts": 1_800_000_000}),
        b"not json",
        orjson.dumps({**base, "event_id": "f", "user_id": None}),
        orjson.dumps({**base, "event_id": "g", "user_id": None, "event_type": "teleport"}),
    ]
    return [pipeline.process(raw, SourcePosition("t", 0, i)) for i, raw in enumerate(raws)]


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    sample = metrics.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def label_values(metrics: WorkerMetrics, sample_name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for metric in metrics.registry.collect()
        for sample in metric.samples
        if sample.name == sample_name
    }


# --- WorkerMetrics -------------------------------------------------------------------


def test_observe_batch_counts_outcomes_reasons_and_corrections() -> None:
    metrics = WorkerMetrics()
    metrics.observe_batch("behavior", outcomes(), seconds=0.02, latencies=[0.1, 0.2, -0.5])
    assert value(metrics, "streamguard_records_in_total", stream="behavior") == 7
    out = "streamguard_records_out_total"
    assert value(metrics, out, stream="behavior", outcome="valid") == 2
    assert value(metrics, out, stream="behavior", outcome="corrected") == 2
    assert value(metrics, out, stream="behavior", outcome="quarantine") == 3
    reasons = "streamguard_quarantine_reasons_total"
    assert value(metrics, reasons, stream="behavior", reason="decode_error", field="_record") == 1
    assert value(metrics, reasons, stream="behavior", reason="missing_field", field="user_id") == 2
    assert (
        value(metrics, reasons, stream="behavior", reason="unknown_enum", field="event_type") == 1
    )
    rules = "streamguard_corrections_total"
    assert value(metrics, rules, stream="behavior", rule="enum_normalize", field="platform") == 2
    assert value(metrics, rules, stream="behavior", rule="ts_epoch_seconds", field="ts") == 1
    batch = "streamguard_batch_processing_seconds"
    assert value(metrics, f"{batch}_count", stream="behavior") == 1
    assert value(metrics, f"{batch}_sum", stream="behavior") == pytest.approx(0.02)
    assert value(metrics, "streamguard_batch_records_sum", stream="behavior") == 7
    latency = "streamguard_record_latency_seconds"
    assert value(metrics, f"{latency}_count", stream="behavior") == 3
    assert value(metrics, f"{latency}_sum", stream="behavior") == pytest.approx(0.3)  # -0.5 -> 0


def test_batches_accumulate_per_stream() -> None:
    metrics = WorkerMetrics()
    batch = outcomes()
    metrics.observe_batch("behavior", batch, seconds=0.01)
    metrics.observe_batch("behavior", batch[:2], seconds=0.01)
    metrics.observe_batch("product", [], seconds=0.001)
    assert value(metrics, "streamguard_records_in_total", stream="behavior") == 9
    assert value(metrics, "streamguard_records_in_total", stream="product") == 0
    assert value(metrics, "streamguard_batch_records_count", stream="behavior") == 2
    assert value(metrics, "streamguard_batch_records_count", stream="product") == 1
    assert value(metrics, "streamguard_records_out_total", stream="behavior", outcome="valid") == 4


def test_observe_batch_accepts_a_generator() -> None:
    metrics = WorkerMetrics()
    metrics.observe_batch("behavior", iter(outcomes()), seconds=0.0)
    assert value(metrics, "streamguard_records_in_total", stream="behavior") == 7


def test_registries_are_independent() -> None:
    a, b = WorkerMetrics(), WorkerMetrics()
    a.observe_batch("behavior", outcomes(), seconds=0.0)
    assert value(b, "streamguard_records_in_total", stream="behavior") == 0


# --- bounded label cardinality -------------------------------------------------------


def test_bounded_field() -> None:
    assert bounded_field("price") == "price"
    assert bounded_field("stock") == "stock"
    assert bounded_field(None) == "_record"
    assert bounded_field("utm_campaign_123") == OTHER
    assert bounded_field("Price") == OTHER


def _odd_outcome(i: int) -> Outcome:
    return Outcome(
        status="quarantine",
        source=SourcePosition("t", 0, i),
        key=b"t",
        value=b"{}",
        reasons=(Reason("made_up_code", f"field_{i}", "x"), Reason("missing_field", f"x{i}", "")),
        corrections=(Correction(f"f{i}", 1, 2, f"rule_{i}"),),
    )


def test_unknown_names_are_bucketed() -> None:
    metrics = WorkerMetrics()
    metrics.observe_batch("behavior", [_odd_outcome(i) for i in range(500)], seconds=0.0)
    reasons = "streamguard_quarantine_reasons_total"
    assert value(metrics, reasons, stream="behavior", reason=OTHER, field=OTHER) == 500
    assert value(metrics, reasons, stream="behavior", reason="missing_field", field=OTHER) == 500
    rules = "streamguard_corrections_total"
    assert value(metrics, rules, stream="behavior", rule=OTHER, field=OTHER) == 500
    assert label_values(metrics, reasons, "field") == {OTHER}


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=12) | st.none(), st.text(max_size=12), st.text(max_size=12)),
        max_size=40,
    )
)
def test_label_values_stay_within_a_fixed_set(items: list[tuple[str | None, str, str]]) -> None:
    metrics = WorkerMetrics()
    batch = [
        Outcome(
            status="corrected",
            source=SourcePosition("t", 0, i),
            key=None,
            value=b"{}",
            reasons=(Reason(code, field, ""),),
            corrections=(Correction(field or "x", None, None, rule),),
        )
        for i, (field, code, rule) in enumerate(items)
    ]
    metrics.observe_batch("behavior", batch, seconds=0.0)
    allowed_fields = SCHEMA_FIELDS | {OTHER, "_record"}
    allowed_codes = set(REASON_CODES) | {OTHER}
    allowed_rules = set(CORRECTION_RULES) | {OTHER}
    reasons, rules = "streamguard_quarantine_reasons_total", "streamguard_corrections_total"
    assert label_values(metrics, reasons, "field") <= allowed_fields
    assert label_values(metrics, rules, "field") <= allowed_fields
    assert label_values(metrics, reasons, "reason") <= allowed_codes
    assert label_values(metrics, rules, "rule") <= allowed_rules
    if items:
        assert len(label_values(metrics, reasons, "field")) >= 1


# --- Health --------------------------------------------------------------------------


def test_health_readiness() -> None:
    health = Health()
    assert health.live
    assert health.readiness() == (False, {})  # nothing declared: not ready
    health.require("assigned", "model")
    assert health.readiness() == (False, {"assigned": False, "model": False})
    health.set_condition("assigned", True)
    assert health.readiness()[0] is False
    health.set_condition("model", True)
    assert health.readiness() == (True, {"assigned": True, "model": True})
    health.require("assigned")  # declaring again does not reset a condition
    assert health.readiness()[0] is True
    health.set_condition("model", False)
    assert health.readiness()[0] is False


# --- MetricsServer over real HTTP ----------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[str, WorkerMetrics, Health]]:
    metrics, health = WorkerMetrics(), Health()
    server = MetricsServer("127.0.0.1", 0, metrics, health)
    server.start()
    try:
        assert server.port > 0
        yield f"http://127.0.0.1:{server.port}", metrics, health
    finally:
        server.stop()


def get(url: str) -> tuple[int, str, str]:
    """Status, content type and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def test_metrics_endpoint(served: tuple[str, WorkerMetrics, Health]) -> None:
    url, metrics, _ = served
    metrics.observe_batch("behavior", outcomes(), seconds=0.01)
    metrics.consumer_lag.labels("events.behavior", "0").set(42)
    metrics.catalogue_products.set(7)
    status, content_type, body = get(f"{url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    for name in METRIC_NAMES:
        assert name.removesuffix("_total") in body
    families = {f.name: f for f in text_string_to_metric_families(body)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    key = ("streamguard_records_out_total", (("outcome", "quarantine"), ("stream", "behavior")))
    assert samples[key] == 3
    lag = ("streamguard_consumer_lag_records", (("partition", "0"), ("topic", "events.behavior")))
    assert samples[lag] == 42
    assert samples[("streamguard_catalogue_products", ())] == 7


def test_healthz(served: tuple[str, WorkerMetrics, Health]) -> None:
    url, _, health = served
    assert get(f"{url}/healthz")[0] == 200
    health.set_live(False)
    status, _, body = get(f"{url}/healthz")
    assert status == 503
    assert "dead" in body


def test_readyz_is_503_until_every_condition_holds(
    served: tuple[str, WorkerMetrics, Health],
) -> None:
    url, _, health = served
    assert get(f"{url}/readyz")[0] == 503  # nothing declared yet
    health.require("assigned", "model")
    status, _, body = get(f"{url}/readyz")
    assert status == 503
    assert "assigned waiting" in body and "model waiting" in body
    health.set_condition("assigned", True)
    status, _, body = get(f"{url}/readyz")
    assert status == 503
    assert "assigned ok" in body and "model waiting" in body
    health.set_condition("model", True)
    status, _, body = get(f"{url}/readyz?verbose=1")
    assert status == 200
    assert "assigned ok" in body and "model ok" in body


def test_ready_gauge_follows_readiness(served: tuple[str, WorkerMetrics, Health]) -> None:
    url, _, health = served

    def ready() -> float:
        body = get(f"{url}/metrics")[2]
        (family,) = [f for f in text_string_to_metric_families(body) if f.name.endswith("ready")]
        return family.samples[0].value

    health.require("assigned")
    assert ready() == 0
    health.set_condition("assigned", True)
    assert ready() == 1


def test_unknown_path_is_404(served: tuple[str, WorkerMetrics, Health]) -> None:
    url, _, _ = served
    assert get(f"{url}/nope")[0] == 404


def test_stop_closes_the_port() -> None:
    server = MetricsServer("127.0.0.1", 0, WorkerMetrics(), Health())
    server.start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    assert get(url)[0] == 200
    server.stop()
    with pytest.raises(urllib.error.URLError):
        get(url)


def test_binds_only_the_configured_address() -> None:
    # STREAMGUARD_METRICS_HOST: on 127.0.0.2 the server is not reachable on 127.0.0.1.
    server = MetricsServer("127.0.0.2", 0, WorkerMetrics(), Health())
    server.start()
    try:
        assert get(f"http://127.0.0.2:{server.port}/healthz")[0] == 200
        with pytest.raises(urllib.error.URLError):
            get(f"http://127.0.0.1:{server.port}/healthz")
    finally:
        server.stop()


def test_observe_many_exports_what_one_observe_per_value_would() -> None:
    rng = random.Random(5)
    values = [rng.choice(LATENCY_BUCKETS) for _ in range(50)]  # exactly on a bound
    values += [rng.uniform(-1.0, 12.0) for _ in range(500)] + [0.0, 1e9, -5.0]
    one_by_one = Histogram("h", "doc", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    batched = Histogram("h", "doc", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    for value in values:
        one_by_one.observe(value)
    observe_many(batched, values[:300])
    observe_many(batched, values[300:])
    observe_many(batched, [])

    def samples(histogram: Histogram) -> dict[tuple[str, str | None], float]:
        family = next(iter(histogram.collect()))
        return {
            (s.name, s.labels.get("le")): s.value for s in family.samples if "created" not in s.name
        }

    expected, got = samples(one_by_one), samples(batched)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert got["h_count", None] == len(values)


def test_collector_counters_export_what_the_timer_counted_since_the_last_export() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    timer = CollectionTimer()  # not installed: counts set by hand, as the hook would
    sample = metrics.registry.get_sample_value

    def exported(generation: str) -> tuple[float | None, float | None]:
        labels = {"generation": generation}
        return (
            sample("streamguard_gc_collections_total", labels),
            sample("streamguard_gc_pause_seconds_total", labels),
        )

    metrics.observe_collector(timer)
    assert exported("0") == (None, None)  # nothing ran: no series yet
    timer.collections[0], timer.seconds[0] = 40, 0.02
    timer.collections[2], timer.seconds[2] = 1, 0.125
    metrics.observe_collector(timer)
    metrics.observe_collector(timer)  # nothing new: nothing added twice
    assert exported("0") == (40, pytest.approx(0.02))
    assert exported("2") == (1, pytest.approx(0.125))
    timer.collections[0], timer.seconds[0] = 50, 0.03
    metrics.observe_collector(timer)
    assert exported("0") == (50, pytest.approx(0.03))
    assert exported("1") == (None, None)


def test_collection_timer_counts_real_collections_until_removed() -> None:
    timer = CollectionTimer().install().install()  # installing twice hooks once
    try:
        gc.collect(0)
        gc.collect()
        assert timer.collections[0] >= 1
        assert timer.collections[2] == 1  # one full collection, counted once
        assert timer.seconds[2] > 0.0
    finally:
        timer.remove()
    before = list(timer.collections)
    gc.collect()
    assert timer.collections == before
