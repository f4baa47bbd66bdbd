"""StreamGuard's Faust tables as the plain objects the pipeline expects.

The catalogue (a global table of clean products) is read through :class:`TableCatalogue`;
table writes go through :class:`TablePartitionStore` into a :class:`ChangelogBuffer`,
which the batch flow sends with the batch's outputs (see :mod:`streamguard.app.batch`),
so a table write is acknowledged before the offsets of the record that made it commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import orjson

__all__ = [
    "CATALOGUE_FIELDS",
    "CatalogueWriter",
    "ChangelogBuffer",
    "TableCatalogue",
    "TablePartitionStore",
    "catalogue_entry",
]

#: Product fields the catalogue keeps (enough for price fill and availability).
CATALOGUE_FIELDS = ("product_id", "title", "category", "brand", "price", "currency", "stock", "ts")


def catalogue_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The slim catalogue value for a clean product record."""
    return {name: record.get(name) for name in CATALOGUE_FIELDS}


class TableCatalogue:
    """The :class:`~streamguard.repair.rules.Catalogue` protocol over a Faust table."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._data: Any = None

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest product, or None when unknown or deleted."""
        if self._data is None:
            # The table's store, not the table: a read through the table calls every
            # Faust sensor (~2% of the worker's time: a lookup per behaviour event).
            self._data = self._table.data
        value = self._data.get(product_id)
        return value if isinstance(value, dict) else None


class ChangelogBuffer:
    """Table writes waiting to be sent with the outputs of the batch that made them.

    Faust's ``Table.send_changelog`` goes through its per-message ``Topic`` machinery
    (~17% of the worker's CPU when every record writes a dedupe entry); the worker sends
    these through the producer directly, like its outputs, and awaits their
    acknowledgements with the outputs', before the batch's offsets may be committed.
    Writes to the same key within a batch collapse to the last one.

    >>> buffer = ChangelogBuffer()
    >>> buffer.add("t-changelog", 0, b'"k"', b"1")
    >>> buffer.add("t-changelog", 0, b'"k"', None)
    >>> list(buffer.drain()), len(buffer)
    ([('t-changelog', 0, b'"k"', None)], 0)
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int, bytes], bytes | None] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue one write (``value=None``: a tombstone)."""
        self._pending.pop((topic, partition, key), None)  # keep the order of last writes
        self._pending[topic, partition, key] = value

    def drain(self) -> Iterator[tuple[str, int, bytes, bytes | None]]:
        """Every queued write once, in the order of their last writes; empties the buffer."""
        pending, self._pending = self._pending, {}
        for (topic, partition, key), value in pending.items():
            yield topic, partition, key, value


_MISSING = object()


class TablePartitionStore(MutableMapping[str, Any]):
    """A Faust table as a plain mapping whose writes go to one changelog partition.

    Faust picks a table write's changelog partition from the *current event*, which a
    ``take_events`` batch does not set per event (and setting it races the stream's
    buffer task). Writing through this view names the partition explicitly: the source
    partition, so a partition's state travels with it on rebalance. Writes are queued in
    ``changelog`` (JSON keys and values, as the table's schema reads them on recovery).
    """

    def __init__(self, table: Any, partition: int, changelog: ChangelogBuffer) -> None:
        self._data = table.data
        self._topic: str = table.changelog_topic_name
        self._partition = partition
        self._changelog = changelog
        # Reads go straight to the in-memory store's dict where there is one: the
        # Mapping mixin's get raises and catches KeyError on every miss, and nearly
        # every dedupe lookup is a miss (~5% of a busy worker's loop, py-spy 12-04).
        raw = getattr(self._data, "data", None)
        self._get: Callable[[str, Any], Any] = raw.get if isinstance(raw, dict) else self._data.get

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        return self._get(key, default)

    def __contains__(self, key: object) -> bool:
        return self._get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changelog.add(self._topic, self._partition, orjson.dumps(key), orjson.dumps(value))

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changelog.add(self._topic, self._partition, orjson.dumps(key), None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class CatalogueWriter:
    """Applies clean product records to the catalogue table, each through the changelog
    partition of its source partition (see :class:`TablePartitionStore`)."""

    def __init__(self, table: Any, changelog: ChangelogBuffer) -> None:
        self._table = table
        self._changelog = changelog
        self._stores: dict[int, TablePartitionStore] = {}

    def apply(self, record: dict[str, Any], partition: int) -> None:
        """Upsert the product's :func:`catalogue_entry`, or delete it (``op=delete``)."""
        catalogue = self._stores.get(partition)
        if catalogue is None:
            catalogue = TablePartitionStore(self._table, partition, self._changelog)
            self._stores[partition] = catalogue
        product_id = record["product_id"]
        if record.get("op") == "delete":
            catalogue.pop(product_id, None)
        else:
            catalogue[product_id] = catalogue_entry(record)
