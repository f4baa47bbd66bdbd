"""Drift through ``streamguard check``: injected drifts are found, bursty controls stay quiet.

These run the real engine with the model-free hashing embedder (``STREAMGUARD_MODEL=
hashing``) so they are fast; ``test_drift_minilm.py`` repeats the key cases with MiniLM.
Scenarios come from the synthetic generator and from ../shared/data (skipped without it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit import drift_scenarios as sc

START = 1000
#: "found within a few hundred records of its start"
WITHIN = 300


def assert_found(
    findings: list[dict[str, Any]],
    kind: str,
    field: str,
    start: int = START,
    within: int = WITHIN,
) -> dict[str, Any]:
    drift = sc.drift_findings(findings)
    early = [f for f in drift if f["position"]["offset"] < start]
    assert not early, f"false alarm before the drift started: {early}"
    hits = [f for f in drift if f["kind"] == kind and f["field"] == field]
    assert hits, f"no {kind} on {field}; got {[(f['kind'], f['field']) for f in drift]}"
    first = hits[0]
    assert start <= first["position"]["offset"] < start + within, first
    assert first["statistic"] > first["threshold"]
    assert set(first) >= {"kind", "stream", "field", "severity", "statistic", "threshold",
                          "window", "examples", "position", "detected_at"}  # fmt: skip
    return first


def add_gtin(record: sc.Record, i: int) -> sc.Record:
    record["gtin"] = f"789{i:010d}"
    return record


def drop_description(record: sc.Record, i: int) -> sc.Record:
    record.pop("description", None)
    return record


def price_as_string(record: sc.Record, i: int) -> sc.Record:
    if isinstance(record.get("price"), float | int) and i % 5 < 2:  # 40% of priced records
        record["price"] = f"{record['price']:.2f}"
    return record


SCHEMA_DRIFTS: list[tuple[str, Callable[[sc.Record, int], sc.Record], str]] = [
    ("product", add_gtin, "gtin"),
    ("product", drop_description, "description"),
    ("product", price_as_string, "price"),
    ("behavior", price_as_string, "price"),
]


@pytest.mark.parametrize(("stream", "change", "field"), SCHEMA_DRIFTS)
def test_schema_drift_found_on_the_right_field(
    stream: str, change: Callable[[sc.Record, int], sc.Record], field: str, tmp_path: Path
) -> None:
    base = sc.synthetic_products(1400) if stream == "product" else sc.synthetic_behavior(2000)
    findings = sc.run_check(sc.drift_from(base, START, change), stream, tmp_path)
    first = assert_found(findings, "schema_drift", field)
    assert first["stream"] == stream


SEMANTIC_DRIFTS: list[tuple[Callable[[sc.Record, int], sc.Record | None], tuple[str, ...]]] = [
    (sc.titles_into_category, ("category",)),
    (sc.boilerplate_description, ("description",)),
    (sc.templated_boilerplate, ("description",)),
    # The hashing fake sees words, not meaning: Portuguese titles keep their brand and
    # model code, so only descriptions are sure to move here (MiniLM flags both).
    (sc.portuguese_feed, ("description",)),
]


@pytest.mark.parametrize(("change", "fields"), SEMANTIC_DRIFTS)
def test_semantic_drift_found_on_the_right_field(
    change: Callable[[sc.Record, int], sc.Record | None], fields: tuple[str, ...], tmp_path: Path
) -> None:
    records = sc.drift_from(sc.synthetic_products(1400), START, change)
    findings = sc.run_check(records, "product", tmp_path)
    for field in fields:
        first = assert_found(findings, "semantic_drift", field)
        assert any(str(e).startswith("after: ") for e in first["examples"])
    drifted = {f["field"] for f in sc.drift_findings(findings)}
    also = {"title"} if change is sc.portuguese_feed else set()
    assert drifted <= set(fields) | also, drifted


def test_movielens_titles_into_category(tmp_path: Path) -> None:
    records = sc.drift_from(sc.movies(1500), START, sc.titles_into_category)
    assert_found(sc.run_check(records, "product", tmp_path), "semantic_drift", "category")


def test_olist_category_loses_its_translation(tmp_path: Path) -> None:
    # The translation table goes missing: categories arrive in raw Portuguese.
    records = sc.drift_from(sc.olist(6000), 4000, sc.untranslated_category)
    findings = sc.run_check(records, "product", tmp_path)
    assert_found(findings, "semantic_drift", "category", start=4000)


CONTROLS: dict[str, tuple[str, Callable[[], list[sc.Record]]]] = {
    "synthetic products, natural order": ("product", lambda: sc.synthetic_products(2500)),
    "synthetic products, shuffled": ("product", lambda: sc.shuffled(sc.synthetic_products(2500))),
    "synthetic products, sorted by category": (
        "product",
        lambda: sc.sorted_by(sc.synthetic_products(2500), "category"),
    ),
    "synthetic products, bulk loads": (
        "product",
        lambda: sc.bulk_loads(sc.synthetic_products(2500), "category"),
    ),
    "synthetic behaviour (session bursts)": ("behavior", lambda: sc.synthetic_behavior(5000)),
    "olist, file order": ("product", lambda: sc.olist(6000)),
    "olist, sorted by category": ("product", lambda: sc.sorted_by(sc.olist(), "category")[:8000]),
    "olist, bulk loads": ("product", lambda: sc.bulk_loads(sc.olist(), "category")[:8000]),
    "movielens movies, sorted by genre": (
        "product",
        lambda: sc.sorted_by(sc.movies(), "category")[:4000],
    ),
    "movielens ratings, user bursts": ("behavior", lambda: sc.ratings(6000)),
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_controls_raise_no_drift_finding(name: str, tmp_path: Path) -> None:
    stream, build = CONTROLS[name]
    findings = sc.run_check(build(), stream, tmp_path)
    assert sc.drift_findings(findings) == []


def emails_in_query(record: sc.Record, i: int) -> sc.Record:
    """A mapping bug puts the user's e-mail into ``query`` (a sparse field: searches)."""
    if "query" in record:
        record["query"] = f"{record['user_id']}@mail.example.com"
    return record


def test_sparse_field_drift_found_within_two_blocks_of_its_values(tmp_path: Path) -> None:
    records = sc.drift_from(sc.synthetic_behavior(9000), 6000, emails_in_query)
    findings = sc.run_check(records, "behavior", tmp_path)
    # query appears in ~10% of events: "a few hundred" of its values, not of all records
    after = [i for i, r in enumerate(records) if i >= 6000 and "query" in r]
    first = assert_found(findings, "semantic_drift", "query", start=6000, within=3000)
    assert first["position"]["offset"] <= after[199], (first["position"], after[199])
