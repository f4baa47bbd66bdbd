"""Operator acceptance of a drift by configuration (``STREAMGUARD_DRIFT_ACCEPT``): the
setting's format, and an entry applied once to the restored state however often the
worker restarts with it (``runtime/drift_accept.py``, ``DetectorSnapshots.accept``)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from streamguard import cli
from streamguard.config import Settings, load_settings
from streamguard.drift.engine import DriftEngine
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.runtime.detector_state import DetectorSnapshots
from streamguard.runtime.drift_accept import Acceptance, accept, parse_entries, pending
from tests.unit import drift_scenarios as sc

# --- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        ("product.category", ["product.category"]),
        (" product.category , behavior.query@INC-42,",
         ["product.category", "behavior.query@INC-42"]),
        ('["product.description@2026-12-04T17:00:00+00:00"]',
         ["product.description@2026-12-04T17:00:00+00:00"]),
        (["orders.items.sku"], ["orders.items.sku"]),
        ("", []),
        ("[]", []),
    ],
)  # fmt: skip
def test_entries_parse_from_a_list_json_or_commas(value: object, entries: list[str]) -> None:
    assert parse_entries(value) == entries


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("product", "is not stream.field"),
        ("product.", "is not stream.field"),
        (".category", "is not stream.field"),
        ("product.category@", "is not stream.field"),
        ("product.category@a b", "is not stream.field"),
        ("product.category@x@y", "is not stream.field"),
        ("product.category,product.category@2", "names product.category twice"),
        ('["product.category"', "not a JSON list"),
        ('[1, 2]', "must be a list"),
        ({"product": "category"}, "must be a list"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_entries(value)


def test_the_setting_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().drift_accept == []
    monkeypatch.setenv("STREAMGUARD_DRIFT_ACCEPT", "product.category,product.description@r2")
    assert Settings().drift_accept == ["product.category", "product.description@r2"]
    monkeypatch.setenv("STREAMGUARD_DRIFT_ACCEPT", '["behavior.query"]')
    assert Settings().drift_accept == ["behavior.query"]
    monkeypatch.delenv("STREAMGUARD_DRIFT_ACCEPT")
    config = tmp_path / "sg.toml"
    config.write_text('[streamguard]\ndrift_accept = ["product.title@1"]\n')
    assert load_settings(config).drift_accept == ["product.title@1"]
    with pytest.raises(ValidationError, match="drift_accept"):
        Settings(drift_accept=["product"])


def test_the_cli_exits_2_on_a_bad_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("")
    monkeypatch.setenv("STREAMGUARD_DRIFT_ACCEPT", "product.category,category")
    assert cli.main(["check", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "'category' is not stream.field[@token]" in capsys.readouterr().err


# --- applying it ---------------------------------------------------------------------------


class FakeEngine:
    """Records the fields acknowledged; ``open``: the fields with an open drift."""

    def __init__(self, *open_fields: str) -> None:
        self.open = set(open_fields)
        self.calls: list[str] = []

    def acknowledge(self, field: str) -> list[str]:
        self.calls.append(field)
        if field in self.open:
            self.open.discard(field)
            return ["gradual"]
        return []


def test_accept_applies_each_entry_once_and_a_new_token_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = FakeEngine("description")
    engines = {"product": engine}
    applied: dict[str, dict[str, str]] = {}
    with caplog.at_level(logging.INFO, logger="streamguard.runtime.drift_accept"):
        done = accept(["product.description", "product.category"], engines, applied)
    assert [(d.acceptance.entry, d.detectors) for d in done] == [
        ("product.description", ("gradual",)),
        ("product.category", ()),
    ]
    assert "drift of product.description accepted as the new normal" in caplog.text
    assert "no open drift of product.category" in caplog.text
    assert applied == {"product": {"description": "", "category": ""}}
    # the same setting again: nothing more
    assert accept(["product.description", "product.category"], engines, applied) == []
    assert engine.calls == ["description", "category"]
    # another token for one field applies that one; a dropped entry is forgotten
    done = accept(["product.description@2"], engines, applied)
    assert [d.acceptance for d in done] == [Acceptance("product", "description", "2")]
    assert applied == {"product": {"description": "2"}}
    assert [a.entry for a in pending(["product.category"], applied)] == ["product.category"]


def test_an_entry_for_a_stream_without_an_engine_is_logged_not_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    applied: dict[str, dict[str, str]] = {}
    engines = {"product": FakeEngine()}
    with caplog.at_level(logging.WARNING, logger="streamguard.runtime.drift_accept"):
        assert accept(["orders.note"], engines, applied) == []
    assert "no drift engine for stream orders" in caplog.text
    assert applied == {}


# --- across restarts, with the detectors' state ---------------------------------------------


def zero() -> float:
    return 0.0


RECORDS = sc.drift_from(sc.synthetic_products(2400), 1500, sc.boilerplate_description)


def new_engine() -> DriftEngine:
    return DriftEngine("product", embedder=HashingEmbedder(), synchronous=True, clock=zero)


def restart(folder: Path, entries: list[str]) -> tuple[DriftEngine, DetectorSnapshots, list[str]]:
    """A worker start: fresh engine, restore, then the configured acceptances."""
    engine = new_engine()
    snapshots = DetectorSnapshots(folder, Settings(), engines={"product": engine}, scorers={})
    assert [r.result for r in snapshots.restore()] == ["restored"]
    done = snapshots.accept(entries)
    return engine, snapshots, [f"{d.acceptance.entry}:{','.join(d.detectors)}" for d in done]


def gradual_open(engine: DriftEngine) -> bool:
    signals = engine.active_signals()
    return any(s.details.get("statistic_name") == "far_repeat_rate" for s in signals)


def test_an_acceptance_applies_once_across_restarts(tmp_path: Path) -> None:
    folder, before = tmp_path / "state", tmp_path / "before-accept"
    engine = new_engine()
    pipeline = RecordPipeline("product", observers=[engine])
    for i, record in enumerate(RECORDS):
        pipeline.process(orjson.dumps(record), SourcePosition("t", 0, i))
    assert gradual_open(engine)
    first = DetectorSnapshots(folder, Settings(), engines={"product": engine}, scorers={})
    first.save()
    shutil.copytree(folder, before)

    # restarted without the setting: the drift is still open
    engine, snapshots, done = restart(folder, [])
    assert gradual_open(engine) and done == []

    # with it: accepted at start, and saved with the state it changed
    engine, snapshots, done = restart(folder, ["product.description"])
    assert done == ["product.description:semantic,gradual"] and not gradual_open(engine)
    assert not [s for s in engine.active_signals() if s.field == "description"]
    assert snapshots.accepted == {"product": {"description": ""}}
    snapshots.save()

    # restarted with the same setting: not applied again, still accepted
    engine, snapshots, done = restart(folder, ["product.description"])
    assert done == [] and not gradual_open(engine)
    assert snapshots.accepted == {"product": {"description": ""}}

    # a new token applies once more (nothing open now: recorded all the same)
    engine, snapshots, done = restart(folder, ["product.description@2"])
    assert done == ["product.description@2:"]
    snapshots.save()
    engine, snapshots, done = restart(folder, ["product.description@2"])
    assert done == []

    # a worker stopped before saving the acceptance restores the state it had not
    # changed, and applies the acceptance to it again
    engine, snapshots, done = restart(before, ["product.description"])
    assert done == ["product.description:semantic,gradual"] and not gradual_open(engine)
