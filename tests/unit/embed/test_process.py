"""ProcessEmbedder: the model in a child process, with clear failures and restarts.

The helper embedders below are module-level so the child can unpickle them (it imports
this module from the checkout).
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from streamguard.embed.hashing import HashingEmbedder
from streamguard.embed.process import EmbedderProcessError, ProcessEmbedder


class _PickyEmbedder(HashingEmbedder):
    """Fails a batch that holds ``"poison"``; never answers one that holds ``"hang"``."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if "poison" in texts:
            raise ValueError("cannot embed poison")
        if "hang" in texts:
            time.sleep(3600)
        return super().embed(texts)


def _broken_model() -> HashingEmbedder:
    raise OSError("no model at /nowhere")


@pytest.fixture
def embedder() -> ProcessEmbedder:
    return ProcessEmbedder(
        functools.partial(_PickyEmbedder, dim=32), batch_timeout_s=5.0, restart_backoff_s=0.0
    )


def _wait_until_gone(pid: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still exists")


def test_vectors_are_the_in_process_embedders(embedder: ProcessEmbedder) -> None:
    texts = ["red running shoes", "tomato soup", "red running shoes"]
    try:
        got = embedder.embed(texts)
        assert embedder.dim == 32 and embedder.device == "cpu" and embedder.loaded
        assert embedder.pid is not None and embedder.pid != os.getpid()
        np.testing.assert_array_equal(got, HashingEmbedder(dim=32).embed(texts))
        assert embedder.embed([]).shape == (0, 32)
    finally:
        embedder.close()


def test_a_failed_batch_is_reported_and_the_child_keeps_serving(
    embedder: ProcessEmbedder,
) -> None:
    try:
        with pytest.raises(EmbedderProcessError, match="ValueError: cannot embed poison"):
            embedder.embed(["fine", "poison"])
        assert embedder.embed(["fine"]).shape == (1, 32)
        assert embedder.starts == 1
    finally:
        embedder.close()


def test_a_dead_child_is_reported_then_replaced(embedder: ProcessEmbedder) -> None:
    try:
        embedder.embed(["warm"])
        first = embedder.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _wait_until_gone_or_zombie(embedder)
        with pytest.raises(EmbedderProcessError, match="exited"):
            embedder.embed(["after the crash"])
        assert embedder.pid is None
        assert embedder.embed(["after the restart"]).shape == (1, 32)
        assert embedder.starts == 2 and embedder.pid not in (None, first)
    finally:
        embedder.close()


def _wait_until_gone_or_zombie(embedder: ProcessEmbedder) -> None:
    process = embedder._process  # noqa: SLF001 - the test waits for the kill to land
    assert process is not None
    deadline = time.monotonic() + 10.0
    while process.poll() is None:
        assert time.monotonic() < deadline, "the killed child did not exit"
        time.sleep(0.02)


def test_a_hung_child_is_ended_within_the_batch_timeout() -> None:
    embedder = ProcessEmbedder(
        functools.partial(_PickyEmbedder, dim=8), batch_timeout_s=0.5, restart_backoff_s=0.0
    )
    try:
        embedder.embed(["warm"])
        hung = embedder.pid
        assert hung is not None
        started = time.monotonic()
        with pytest.raises(EmbedderProcessError, match="no answer within 0.5 s"):
            embedder.embed(["hang"])
        assert time.monotonic() - started < 10.0
        _wait_until_gone(hung)
        assert embedder.embed(["next"]).shape == (1, 8)
    finally:
        embedder.close()


def test_a_model_that_cannot_load_says_why_and_backs_off() -> None:
    embedder = ProcessEmbedder(_broken_model, restart_backoff_s=60.0)
    with pytest.raises(EmbedderProcessError, match="could not be built: OSError: no model"):
        embedder.embed(["x"])
    assert embedder.pid is None
    # Within the back-off no new child is started (no torch re-import loop).
    with pytest.raises(EmbedderProcessError, match="restarts in"):
        embedder.embed(["x"])
    assert embedder.starts == 1


def test_close_ends_the_child_and_later_calls_fail_clearly(embedder: ProcessEmbedder) -> None:
    embedder.embed(["warm"])
    pid = embedder.pid
    assert pid is not None
    embedder.close()
    _wait_until_gone(pid)
    with pytest.raises(EmbedderProcessError, match="closed"):
        embedder.embed(["late"])


def test_a_factory_that_cannot_travel_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="picklable"):
        ProcessEmbedder(lambda: HashingEmbedder(dim=4))


def test_failures_and_restarts_reach_the_metrics(embedder: ProcessEmbedder) -> None:
    from prometheus_client import CollectorRegistry

    from streamguard.embed.batcher import MicroBatcher
    from streamguard.embed.cache import EmbeddingCache
    from streamguard.observability.drift import DriftMetrics, export_batcher

    registry = CollectorRegistry()
    metrics, cache = DriftMetrics(registry), EmbeddingCache(100)
    batcher = MicroBatcher(embedder, on_batch=lambda items, vectors: None, cache=cache)
    try:
        batcher._process([("fine", None)])  # noqa: SLF001 - one batch, no thread needed
        batcher._process([("poison", None)])  # noqa: SLF001
        pid = embedder.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_until_gone_or_zombie(embedder)
        batcher._process([("after the crash", None)])  # noqa: SLF001 - fails: the child died
        batcher._process([("after the restart", None)])  # noqa: SLF001
        export_batcher(batcher, cache, metrics)
        sample = registry.get_sample_value
        assert sample("streamguard_embedder_batch_errors_total") == 2
        assert sample("streamguard_embedder_process_starts_total") == 2
        assert sample("streamguard_embedder_model_texts_total") == 2  # fine + after the restart
    finally:
        embedder.close()
