"""RecommenderProcess: the worker's recommender in a child process gives what the
in-process service gives, mirrors its metrics, snapshots, and fails clearly."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamguard.recommender import (
    RecommenderService,
    RefreshPolicy,
    read_snapshot,
)
from streamguard.recommender.process import (
    RecommenderProcess,
    RecommenderProcessError,
    RecommenderSpec,
)

TIMEOUT_S = 60.0


def events(n: int) -> list[dict[str, Any]]:
    """Users view and buy from overlapping runs of products; every 7th is a search."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        user = f"u{i % 13}"
        if i % 7 == 0:
            out.append({"user_id": user, "event_type": "search", "query": "tent", "ts": i})
        else:
            kind = "purchase" if i % 5 == 0 else "view"
            product = f"p{(i // 3 + i % 13) % 17}"
            out.append({"user_id": user, "product_id": product, "event_type": kind, "ts": i})
    return out


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make(registry: CollectorRegistry) -> Iterator[Callable[..., RecommenderProcess]]:
    made: list[RecommenderProcess] = []

    def build(spec: RecommenderSpec, **options: Any) -> RecommenderProcess:
        options.setdefault("restart_backoff_s", 0.0)
        process = RecommenderProcess(spec, registry=options.pop("registry", registry), **options)
        made.append(process)
        return process

    yield build
    for process in made:
        process.close()


def lists(encoded: list[tuple[bytes, bytes]]) -> dict[str, tuple[str, list[str]]]:
    out = {}
    for key, value in encoded:
        record = orjson.loads(value)
        assert key == record["user_id"].encode()
        out[record["user_id"]] = (
            record["model_version"],
            [item["product_id"] for item in record["items"]],
        )
    return out


def test_lists_are_the_in_process_services(make: Callable[..., RecommenderProcess]) -> None:
    batch = events(400)
    process = make(RecommenderSpec(min_interval_s=0.0, k=5, algorithm="item-cooc"))
    process.learn(batch[:150])
    process.update_product({"product_id": "p3", "op": "delete"})
    process.remove_product("p4")
    process.learn(batch[150:])
    got = lists(process.due_records().result(TIMEOUT_S))

    service = RecommenderService(policy=RefreshPolicy(min_interval_s=0.0), k=5)
    for record in batch[:150]:
        service.learn(record)
    service.update_product({"product_id": "p3", "op": "delete"})
    service.remove_product("p4")
    for record in batch[150:]:
        service.learn(record)
    want = lists([(r["user_id"].encode(), orjson.dumps(r)) for r in service.due_records()])

    assert got == want and len(got) == 13
    shown = {item for _, items in got.values() for item in items}
    assert shown and not shown & {"p3", "p4"}
    # Nothing changed since: the next round publishes nothing.
    assert process.due_records().result(TIMEOUT_S) == []


def test_metrics_of_the_child_appear_in_the_parents_registry(
    make: Callable[..., RecommenderProcess], registry: CollectorRegistry
) -> None:
    process = make(RecommenderSpec(min_interval_s=0.0))
    # Declared before the child has said anything (panels show 0, not "no data").
    assert registry.get_sample_value("streamguard_recommender_updates_total") == 0.0
    batch = events(70)
    process.learn(batch)
    published = len(process.due_records().result(TIMEOUT_S))
    searches = sum(1 for e in batch if "product_id" not in e)
    assert registry.get_sample_value("streamguard_recommender_updates_total") == 70 - searches
    assert registry.get_sample_value("streamguard_recommender_skipped_events_total") == searches
    assert registry.get_sample_value("streamguard_recommendations_published_total") == published
    assert registry.get_sample_value("streamguard_recommender_pending_users") == 0.0
    assert registry.get_sample_value("streamguard_recommender_process_failures_total") == 0.0


def test_snapshot_is_written_by_the_child_and_restored_by_the_next(
    make: Callable[..., RecommenderProcess], registry: CollectorRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "recommender" / "model.json"
    spec = RecommenderSpec(snapshot_path=path, min_interval_s=0.0)
    first = make(spec)
    first.learn(events(100))
    size = first.snapshot(path).result(TIMEOUT_S)
    model = read_snapshot(path)
    assert model is not None and size == path.stat().st_size > 0
    learned = model.events_learned
    assert learned == 100 - sum(1 for e in events(100) if "product_id" not in e)
    assert registry.get_sample_value("streamguard_recommender_snapshot_bytes") == size
    entries = registry.get_sample_value(
        "streamguard_recommender_model_entries", {"structure": "users"}
    )
    assert entries == 13
    first.close()
    assert first.pid is None

    second = make(spec, registry=CollectorRegistry())
    assert second.due_records().result(TIMEOUT_S) == []  # restored, nothing pending
    assert second.restored == (model.version, learned)


def test_a_killed_child_fails_the_request_and_restarts_from_the_snapshot(
    make: Callable[..., RecommenderProcess], registry: CollectorRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    process = make(RecommenderSpec(snapshot_path=path, min_interval_s=0.0))
    process.learn(events(50))
    process.snapshot(path).result(TIMEOUT_S)
    snapshotted = process.restored, read_snapshot(path)
    assert snapshotted[1] is not None
    pid = process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(RecommenderProcessError, match="failed"):
        process.due_records().result(TIMEOUT_S)
    assert registry.get_sample_value("streamguard_recommender_process_failures_total") == 1.0

    process.due_records().result(TIMEOUT_S)  # a new child, from the snapshot
    assert process.starts == 2 and process.pid not in (None, pid)
    assert process.restored == (snapshotted[1].version, snapshotted[1].events_learned)


def test_a_failed_request_is_reported_and_the_child_keeps_serving(
    make: Callable[..., RecommenderProcess], tmp_path: Path
) -> None:
    process = make(RecommenderSpec(min_interval_s=0.0))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RecommenderProcessError, match="snapshot request"):
        process.snapshot(blocker / "model.json").result(TIMEOUT_S)
    process.learn(events(10))
    assert len(process.due_records().result(TIMEOUT_S)) > 0
    assert process.starts == 1


def test_a_child_that_cannot_start_says_why_and_events_are_counted_lost(
    make: Callable[..., RecommenderProcess], registry: CollectorRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"{not a snapshot")
    process = make(RecommenderSpec(snapshot_path=path), restart_backoff_s=600.0)
    with pytest.raises(RecommenderProcessError, match="did not start.*[Ss]napshot"):
        process.due_records().result(TIMEOUT_S)
    process.learn(events(30))  # no child for ten minutes: lost, and counted
    lost = "streamguard_recommender_lost_events_total"
    wait_for(lambda: registry.get_sample_value(lost) == 30.0, "30 events counted lost")
    with pytest.raises(RecommenderProcessError, match="restarts in"):
        process.due_records().result(TIMEOUT_S)
    assert registry.get_sample_value("streamguard_recommender_process_failures_total") == 1.0


def test_closed_process_refuses_work_clearly(make: Callable[..., RecommenderProcess]) -> None:
    process = make(RecommenderSpec())
    process.learn(events(5))
    assert process.due_records().result(TIMEOUT_S) is not None
    pid = process.pid
    process.close()
    assert process.pid is None and pid is not None
    with pytest.raises(RecommenderProcessError, match="closed"):
        process.learn(events(1))
    with pytest.raises(RecommenderProcessError, match="closed"):
        process.due_records().result(TIMEOUT_S)


def test_rejects_nonsense_options() -> None:
    with pytest.raises(ValueError, match="max_queued"):
        RecommenderProcess(RecommenderSpec(), max_queued=0)


def test_a_request_cancelled_by_its_caller_does_not_stop_the_next(
    make: Callable[..., RecommenderProcess],
) -> None:
    """At shutdown the loop cancels the tasks awaiting answers; the link thread must
    drop those answers and keep serving (it used to die on InvalidStateError, and the
    worker then hung saving its snapshot)."""
    process = make(RecommenderSpec(min_interval_s=0.0))
    process.learn(events(20))
    abandoned = [process.due_records() for _ in range(3)]
    assert all(future.cancel() for future in abandoned)  # no answer could come yet
    process.learn(events(20))
    assert isinstance(process.due_records().result(TIMEOUT_S), list)
    assert process.starts == 1
