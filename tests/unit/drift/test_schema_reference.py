"""Schema drift's reference stays bounded and forgets fields it no longer sees (item 7)."""

from __future__ import annotations

import pickle

from streamguard.drift import SchemaDriftDetector
from streamguard.events.models import PRODUCT_OPS, ProductEvent
from streamguard.events.records import SourcePosition

DECLARED = tuple(ProductEvent.model_fields)


def zero() -> float:
    return 0.0


def detector() -> SchemaDriftDetector:
    return SchemaDriftDetector(
        "product", DECLARED, group_field="op", group_values=PRODUCT_OPS, clock=zero
    )


def record(i: int) -> dict[str, object]:
    return {"event_id": f"e{i}", "product_id": f"p{i % 300}", "op": "upsert", "price": 1.0,
            "ts": "2026-11-01T00:00:00Z"}  # fmt: skip


def reference_fields(d: SchemaDriftDetector) -> int:
    return sum(len(ref.presence) for ref in d._reference.values())  # noqa: SLF001


def test_unique_keys_do_not_grow_the_reference() -> None:
    d = detector()
    for i in range(50_000):
        assert d.update({**record(i), f"k{i}": i}, SourcePosition("t", 0, i)) == []
    assert reference_fields(d) <= len(DECLARED) + 256 + 1  # declared + cap + overflow
    assert len(pickle.dumps(d)) < 200_000  # the whole state, not only the reference


def test_a_field_unseen_for_long_decays_out_of_the_reference() -> None:
    d = detector()
    for i in range(1000):
        d.update({**record(i), "legacy_sku": "x"}, SourcePosition("t", 0, i))
    assert "legacy_sku" in d._reference["upsert"].presence  # noqa: SLF001
    for i in range(1000, 70_000):
        d.update(record(i), SourcePosition("t", 0, i))
    assert "legacy_sku" not in d._reference["upsert"].presence  # noqa: SLF001
