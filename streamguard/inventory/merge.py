"""Workers' partial inventories of one stream, serialised, collected and merged.

Each worker sees only the partitions it holds. Every publication it writes its own
:class:`Partial` of each stream (all it has seen since it started: the profile's
sketches, the lineage counts, the records counted) to the inventory topic under the key
``<stream>/<worker>`` (:func:`partial_key`; a ``/`` marks a partial, stream keys have
none). Every worker reads that topic back into a :class:`PartialSet` (the latest partial
of each worker, by ``published_at``), merges its own live partial with the others'
(:func:`merge_partials`) and publishes the merged entry under the plain ``<stream>`` key.
Whichever worker wrote last, the entry covers every worker's records.

A worker that stops leaves its last partial behind: it keeps counting (its records were
seen) until it is older than the TTL given to :meth:`PartialSet.current`; a worker that
restarts under the same id replaces it.

Examples
--------
>>> from streamguard.inventory.lineage import Lineage
>>> a, b = StreamProfile("s"), StreamProfile("s")
>>> for i in range(10):
...     (a if i % 2 else b).learn_one({"id": i})
>>> pa = Partial("s", "w1", 100.0, 5, Lineage(), a)
>>> parts = PartialSet()
>>> parts.add(partial_key("s", "w2"), encode_partial(Partial("s", "w2", 100.0, 5, Lineage(), b)))
True
>>> merged = merge_partials([pa, *parts.current("s", now=101.0, ttl_s=60, exclude="w1")])
>>> merged.seen, merged.profile.records
(10, 10)
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from streamguard.inventory.lineage import Lineage
from streamguard.inventory.profile import StreamProfile
from streamguard.inventory.wire import decode_profile, encode_profile

__all__ = [
    "PARTIAL_KIND",
    "Partial",
    "PartialSet",
    "decode_partial",
    "encode_partial",
    "merge_partials",
    "partial_key",
    "split_key",
]

PARTIAL_KIND = "inventory_partial"


@dataclass(frozen=True, slots=True)
class Partial:
    """One worker's inventory of one stream: ``seen`` records counted (all of them),
    ``profile`` of those profiled (all, or a sample), ``lineage`` counts."""

    stream: str
    worker: str
    published_at: float
    seen: int
    lineage: Lineage
    profile: StreamProfile


def partial_key(stream: str, worker: str) -> str:
    """The inventory-topic key of a worker's partial: ``<stream>/<worker>``.

    >>> partial_key("behavior", "host-1/x")
    'behavior/host-1_x'
    """
    return f"{stream}/{worker.replace('/', '_')}"


def split_key(key: str) -> tuple[str, str] | None:
    """``(stream, worker)`` of a partial's key; None for a stream's own key.

    >>> split_key("behavior/w1"), split_key("behavior")
    (('behavior', 'w1'), None)
    """
    stream, slash, worker = key.partition("/")
    return (stream, worker) if slash and stream and worker else None


def encode_partial(partial: Partial) -> bytes:
    """The inventory-topic value of a partial (JSON; the profile compressed, base64)."""
    return orjson.dumps(
        {
            "kind": PARTIAL_KIND,
            "stream": partial.stream,
            "worker": partial.worker,
            "published_at": partial.published_at,
            "seen": partial.seen,
            "lineage": partial.lineage.to_dict(),
            "profile": base64.b64encode(encode_profile(partial.profile)).decode(),
        }
    )


def decode_partial(value: bytes) -> Partial:
    """The partial :func:`encode_partial` wrote; ``ValueError`` on anything else."""
    try:
        data = orjson.loads(value)
        if not isinstance(data, dict) or data.get("kind") != PARTIAL_KIND:
            raise ValueError("not an inventory partial")
        stream, worker = data["stream"], data["worker"]
        published_at, seen = data["published_at"], data["seen"]
        if not isinstance(stream, str) or not isinstance(worker, str):
            raise ValueError("not an inventory partial")
        if not isinstance(published_at, int | float) or not isinstance(seen, int):
            raise ValueError("not an inventory partial")
        profile = decode_profile(base64.b64decode(data["profile"], validate=True))
        return Partial(
            stream, worker, float(published_at), seen, Lineage.from_dict(data["lineage"]), profile
        )
    except ValueError:
        raise
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an inventory partial: {exc!r}") from exc


class PartialSet:
    """The latest partial of each (stream, worker) read from the inventory topic."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], Partial] = {}
        self.rejected = 0  #: values under a partial key that could not be read

    def add(self, key: str, value: bytes | None) -> bool:
        """Take one inventory-topic record; True when it is a partial newer than the one
        held. Stream keys are ignored; unreadable partials counted in :attr:`rejected`."""
        if split_key(key) is None or value is None:
            return False
        try:
            partial = decode_partial(value)
        except ValueError:
            self.rejected += 1
            return False
        slot = (partial.stream, partial.worker)
        held = self._latest.get(slot)
        if held is not None and held.published_at > partial.published_at:
            return False
        self._latest[slot] = partial
        return True

    def streams(self) -> set[str]:
        """Streams with at least one partial held."""
        return {stream for stream, _ in self._latest}

    def current(
        self, stream: str, *, now: float, ttl_s: float, exclude: str | None = None
    ) -> list[Partial]:
        """The partials of ``stream`` published within ``ttl_s`` of ``now``, except
        ``exclude``'s (the reader's own, which it holds live), by worker."""
        return [
            partial
            for (name, worker), partial in sorted(self._latest.items())
            if name == stream and worker != exclude and now - partial.published_at <= ttl_s
        ]


def merge_partials(partials: Iterable[Partial]) -> Partial:
    """One partial covering all of ``partials`` (of one stream; at least one). The
    inputs are not changed: the result holds a fresh profile and lineage."""
    parts = list(partials)
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0].profile
    profile = StreamProfile(
        first.stream,
        source=first.source,
        schema=first.schema,
        declared=first.declared,
        max_fields=first.max_fields,
        max_depth=first.max_depth,
        max_array_items=first.max_array_items,
    )
    lineage = Lineage()
    seen = 0
    for part in parts:
        profile.merge(part.profile)
        lineage.merge(part.lineage)
        seen += part.seen
    return Partial(
        first.stream,
        "*",
        max(part.published_at for part in parts),
        seen,
        lineage,
        profile,
    )
