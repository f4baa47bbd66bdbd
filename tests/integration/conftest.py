"""Fixtures for tests that speak the real Kafka protocol to the embedded broker.

``broker``: one :class:`~streamguard.devtools.broker.EmbeddedBroker` for the whole session
(memory storage: tests must use their own topics, see ``topic_name``).
``client_options`` / ``consumer_options``: aiokafka keyword arguments with short timeouts,
so group joins and failures take seconds, not minutes.
Process helpers (``child_pids``, ``descendant_pids``, ``process_alive``, ``port_is_free``,
``wait_for``) check that what a test started is really gone, orphans included.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.testing import processes

_CLIENT_OPTIONS: dict[str, Any] = {
    "request_timeout_ms": 5000,
    "retry_backoff_ms": 50,
    "metadata_max_age_ms": 5000,
}
_CONSUMER_OPTIONS: dict[str, Any] = {
    **_CLIENT_OPTIONS,
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
    "fetch_max_wait_ms": 100,
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
}


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A started embedded broker shared by the session; stopped at the end."""
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Factory of topic names unique to this test: ``topic_name("events")``."""
    test = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:80]

    def make(label: str = "t") -> str:
        return f"{label}.{test}.{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def client_options() -> dict[str, Any]:
    """aiokafka options for producers and admin clients: quick timeouts."""
    return dict(_CLIENT_OPTIONS)


@pytest.fixture
def consumer_options() -> dict[str, Any]:
    """aiokafka consumer options: quick group joins, earliest, no auto-commit."""
    return dict(_CONSUMER_OPTIONS)


# --- processes ----------------------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """Children of ``pid`` (skips the test where the kernel does not list them)."""
    if not processes.children_listed():
        pytest.skip("/proc/PID/task/TID/children is not available on this kernel")
    return processes.child_pids(pid)
