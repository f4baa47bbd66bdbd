"""The worker's partition pipelines apply the configured PII policy (STREAMGUARD_PII_POLICY)."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from streamguard.app.pipelines import PartitionPipelines
from streamguard.app.tables import ChangelogBuffer, TableCatalogue
from streamguard.config import Settings
from streamguard.events.records import SourcePosition
from streamguard.validate.dedupe import DedupeBudget
from streamguard.wiring import build_scorers


def _pipelines(settings: Settings) -> PartitionPipelines:
    def table(name: str) -> SimpleNamespace:
        return SimpleNamespace(data={}, changelog_topic_name=f"app-{name}-changelog")

    return PartitionPipelines(
        settings,
        dedupe_tables={"behavior": table("dedupe-b"), "product": table("dedupe-p")},
        budget=DedupeBudget(1000),
        changelog=ChangelogBuffer(),
        catalogue=TableCatalogue(table("catalogue")),
        scorers=build_scorers(settings),
        engines=None,
    )


def _search(event_id: str, query: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": "search",
            "user_id": "u1",
            "query": query,
            "ts": "2026-11-01T10:00:00Z",
        }
    )


def test_the_worker_masks_and_quarantines_by_stream() -> None:
    settings = Settings(
        model="hashing",
        pii_policy={"behavior": {"query": "mask"}, "product": {"*": "quarantine"}},
    )
    pipelines = _pipelines(settings)
    behavior = pipelines.get("behavior", "events.behavior", 0)
    masked = behavior.process(
        _search("e1", "ana@example.com"), SourcePosition("events.behavior", 0, 0)
    )
    assert masked.record is not None and masked.record["query"] == "[email]"
    assert [c.rule for c in masked.corrections] == ["pii_mask"]
    product = pipelines.get("product", "events.product", 0)
    record = {
        "event_id": "p1",
        "product_id": "p1",
        "op": "upsert",
        "title": "call +44 20 7946 0958",
        "ts": "2026-11-01T10:00:00Z",
    }
    outcome = product.process(orjson.dumps(record), SourcePosition("events.product", 0, 0))
    assert [(r.code, r.field) for r in outcome.reasons] == [("pii_detected", "title")]


def test_without_a_policy_the_worker_scans_nothing() -> None:
    pipelines = _pipelines(Settings(model="hashing"))
    behavior = pipelines.get("behavior", "events.behavior", 0)
    assert behavior.pii_policy is None
    outcome = behavior.process(
        _search("e1", "ana@example.com"), SourcePosition("events.behavior", 0, 0)
    )
    assert outcome.record is not None and outcome.record["query"] == "ana@example.com"
