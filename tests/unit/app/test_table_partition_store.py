"""TablePartitionStore: reads straight from the table's in-memory dict, writes queued
for one changelog partition."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mode.utils.collections import FastUserDict

from streamguard.app.tables import ChangelogBuffer, TablePartitionStore


class _MemoryStore(FastUserDict):  # type: ignore[type-arg]
    """Faust's memory store as the view sees it: a FastUserDict over a ``data`` dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}


def _view(data: Any) -> tuple[TablePartitionStore, ChangelogBuffer]:
    changelog = ChangelogBuffer()
    table = SimpleNamespace(data=data, changelog_topic_name="app-dedupe-changelog")
    return TablePartitionStore(table, 2, changelog), changelog


def test_reads_hit_miss_and_default_over_a_memory_store() -> None:
    store = _MemoryStore()
    view, changelog = _view(store)
    view["e1"] = ["events", 0, 5]
    assert store.data == {"e1": ["events", 0, 5]}
    assert view.get("e1") == ["events", 0, 5] and view["e1"] == ["events", 0, 5]
    assert view.get("nope") is None and view.get("nope", 7) == 7
    assert "e1" in view and "nope" not in view
    store.data["e2"] = None  # a stored None is present, not missing
    assert "e2" in view and view.get("e2", 1) is None
    del view["e1"]
    assert "e1" not in view and len(view) == 1
    assert list(changelog.drain()) == [("app-dedupe-changelog", 2, b'"e1"', None)]


def test_a_store_without_a_dict_is_read_through_its_own_get() -> None:
    class _OtherStore(dict[str, Any]):
        reads = 0

        def get(self, key: str, default: Any = None) -> Any:
            type(self).reads += 1
            return super().get(key, default)

    other = _OtherStore(a=1)
    view, _ = _view(other)
    assert view.get("a") == 1 and view.get("b", 2) == 2 and "a" in view
    assert _OtherStore.reads == 3
