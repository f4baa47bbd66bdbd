"""The worker applies ``STREAMGUARD_DRIFT_ACCEPT`` right after restoring the detectors,
and saves at once so the next start does not apply it again."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamguard.app.detector_state import DetectorStateLink
from streamguard.config import Settings
from streamguard.embed.hashing import HashingEmbedder
from streamguard.observability.registry import CollectorRegistry
from streamguard.runtime.detector_state import state_dir
from streamguard.wiring import build_engines, build_scorers

STREAMS = ("behavior", "product")


def start(config: Settings) -> DetectorStateLink:
    """A worker's start: fresh detectors, restored from the data directory."""
    engines = build_engines(config, STREAMS, synchronous=True, embedder=HashingEmbedder(dim=32))
    link = DetectorStateLink(
        config, CollectorRegistry(), engines=engines, scorers=build_scorers(config)
    )
    link.restore()
    return link


def test_the_link_applies_acceptances_at_start_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = Settings(
        model="hashing",
        data_dir=tmp_path,
        recommender_enabled=False,
        drift_accept=["product.description", "behavior.query@INC-7"],
    )
    state = state_dir(config) / "drift-product.state"
    with caplog.at_level(logging.INFO, logger="streamguard.runtime.drift_accept"):
        link = start(config)
    assert caplog.text.count("applied: no open drift") == 2  # a first start: nothing open
    assert link.snapshots.accepted == {
        "product": {"description": ""},
        "behavior": {"query": "INC-7"},
    }
    assert state.exists()  # saved at once, with the record of what was applied
    saved_at = state.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streamguard.runtime.drift_accept"):
        link = start(config)
    assert "drift_accept" not in caplog.text and "accepted" not in caplog.text
    assert link.snapshots.accepted["behavior"] == {"query": "INC-7"}
    assert state.stat().st_mtime_ns == saved_at  # nothing applied: nothing saved
    # a changed token applies once more
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streamguard.runtime.drift_accept"):
        link = start(config.model_copy(update={"drift_accept": ["behavior.query@INC-8"]}))
    assert "drift_accept behavior.query@INC-8 applied" in caplog.text
    assert link.snapshots.accepted == {"behavior": {"query": "INC-8"}}
