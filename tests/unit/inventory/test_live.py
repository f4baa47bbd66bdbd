"""The live inventory: lineage counts, the CPU budget, sampling, the stream entry."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from streamguard.inventory.lineage import Lineage, file_lineage
from streamguard.inventory.live import Budget, LiveInventory, StreamSpec, stream_entry
from streamguard.inventory.merge import merge_partials


class FakeClock:
    """Time that advances only when told, or by ``step`` on every read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_lineage_counts_merge_and_round_trip() -> None:
    lineage = Lineage()
    lineage.count("clean", "clean", 3)
    lineage.count("clean", "clean", 2)
    lineage.count("quarantine", "quarantine", 0)  # nothing: no entry
    lineage.count("findings", "findings")
    other = Lineage.from_dict(lineage.to_dict())
    other.merge(lineage)
    assert other.to_dict() == {
        "clean": {"role": "clean", "records": 10},
        "findings": {"role": "findings", "records": 2},
    }
    entry = other.as_dict(["events.x"], "x.v1", {"id": "c", "version": "1"})
    assert entry["inputs"] == ["events.x"] and entry["schema"] == "x.v1"
    assert entry["contract"] == {"id": "c", "version": "1"}
    with pytest.raises(ValueError, match="role"):
        lineage.count("t", "elsewhere")
    bad_entries: list[Any] = [
        {"t": {"role": "clean"}},
        {"t": {"role": "clean", "records": True}},
        [],
    ]
    for bad in bad_entries:
        with pytest.raises(ValueError):
            Lineage.from_dict(bad)


def test_a_files_lineage_has_the_file_as_input_and_no_outputs() -> None:
    assert file_lineage("file:p.jsonl", "product.v1") == {
        "inputs": ["file:p.jsonl"],
        "outputs": {},
        "schema": "product.v1",
        "contract": None,
    }


def test_the_budget_accrues_at_its_share_up_to_the_burst() -> None:
    clock = FakeClock()
    budget = Budget(0.02, burst_s=0.05, clock=clock)
    assert budget.credit() == 0.05
    budget.spend(0.15)
    clock.now += 5.0  # 0.1 s earned: still 0.05 s in debt
    assert budget.credit() == pytest.approx(-0.0)
    clock.now += 1000.0
    assert budget.credit() == 0.05


def _values(n: int) -> list[bytes | None]:
    return [orjson.dumps({"id": f"u{i}", "n": i}) for i in range(n)]


def test_within_budget_every_record_is_profiled() -> None:
    inv = LiveInventory({"s": StreamSpec("topic.s", "s.v1", frozenset({"id"}))})
    inv.observe("s", [*_values(50), b"{broken", None, b"7"])
    entry = stream_entry(inv.partial("s", "w", now=1.0))
    assert entry["records"] == entry["sampled_records"] == 53
    assert entry["objects"] == 50
    fields = {f["path"]: f for f in entry["fields"]}
    assert fields["id"]["in_schema"] is True and fields["n"]["in_schema"] is False
    assert entry["lineage"] == {
        "inputs": ["topic.s"],
        "outputs": {},
        "schema": "s.v1",
        "contract": None,
    }


def test_past_the_budget_records_are_counted_and_a_strided_sample_profiled() -> None:
    # Every clock read advances 50 ms: profiling looks expensive, so the budget binds.
    clock = FakeClock(step=0.05)
    inv = LiveInventory(
        {"s": StreamSpec("topic.s")}, cpu_share=0.01, clock=clock, rng=random.Random(1)
    )
    for _ in range(20):
        inv.observe("s", _values(1000))
    entry = stream_entry(inv.partial("s", "w", now=1.0))
    assert entry["records"] == 20_000 and inv.seen("s") == 20_000
    assert 0 < entry["sampled_records"] < 20_000
    assert entry["objects"] == 20_000  # scaled to the records counted
    assert {f["path"] for f in entry["fields"]} == {"id", "n"}
    assert entry["fields"][0]["presence"] == 1.0


def test_an_exhausted_budget_profiles_nothing_until_it_refills() -> None:
    clock = FakeClock()
    inv = LiveInventory({"s": StreamSpec("topic.s")}, cpu_share=0.01, clock=clock)
    inv._budget.spend(1.0)  # deep in debt
    inv.observe("s", _values(100))
    assert inv.seen("s") == 100 and inv.partial("s", "w", now=0.0).profile.records == 0
    clock.now += 1000.0
    inv.observe("s", _values(10))
    assert inv.partial("s", "w", now=0.0).profile.records == 10


def test_records_over_the_size_limit_count_as_invalid() -> None:
    inv = LiveInventory({"s": StreamSpec("topic.s")}, max_record_bytes=20)
    inv.observe("s", [b'{"a": 1}', b'{"a": "' + b"x" * 50 + b'"}'])
    entry = stream_entry(inv.partial("s", "w", now=0.0))
    assert (entry["records"], entry["objects"]) == (2, 1)


def test_pii_counts_per_field_and_kind() -> None:
    inv = LiveInventory({"s": StreamSpec("topic.s")})
    inv.observe(
        "s",
        [orjson.dumps({"contact": "ana@example.com"}), orjson.dumps({"contact": "n/a"})] * 3,
    )
    assert inv.pii_counts("s") == {("contact", "email"): 3}


def test_a_merged_entry_counts_every_workers_records() -> None:
    workers = [LiveInventory({"s": StreamSpec("topic.s")}) for _ in range(2)]
    workers[0].observe("s", _values(30))
    workers[1].observe("s", _values(12))
    workers[0].lineage("s").count("clean.s", "clean", 30)
    workers[1].lineage("s").count("clean.s", "clean", 11)
    workers[1].lineage("s").count("quarantine", "quarantine", 1)
    merged = merge_partials(w.partial("s", f"w{i}", now=1.0) for i, w in enumerate(workers))
    entry = stream_entry(merged)
    assert entry["records"] == 42
    assert entry["lineage"]["outputs"] == {
        "clean.s": {"role": "clean", "records": 41},
        "quarantine": {"role": "quarantine", "records": 1},
    }
    assert workers[0].seen("s") == 30  # the live partials are not changed by the merge


def test_release_drops_the_profiles() -> None:
    inv = LiveInventory({"s": StreamSpec("topic.s")})
    inv.observe("s", _values(3))
    inv.release()
    with pytest.raises(KeyError):
        inv.partial("s", "w", now=0.0)


def test_a_profiled_files_entry_carries_the_files_lineage() -> None:
    from streamguard.inventory import StreamProfile

    profile = StreamProfile("p", source="file:p.jsonl", schema="product.v1")
    profile.learn_one({"a": 1})
    assert profile.snapshot()["lineage"] == file_lineage("file:p.jsonl", "product.v1")
