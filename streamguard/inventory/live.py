"""The worker's live inventory: every record counted, a time-budgeted share profiled.

The worker hands each batch to :meth:`LiveInventory.observe` after the batch's outputs
are acknowledged, so profiling never delays a record's delivery; it still runs on the
worker's event loop, so :class:`Budget` caps it at ``cpu_share`` of the loop's time
(2% by default). Every record is counted (``records`` stays exact); when a batch costs
more than the budget holds, an evenly strided sample of it is profiled (the cost per
record is measured as it goes), and the entry says how many were profiled
(``sampled_records``). Shares (presence, types, top values, PII) are then estimates over
the sample, ``objects`` is scaled to the records counted, and ``distinct_estimate``
counts the distinct values of the sample.

:func:`stream_entry` turns a (merged) :class:`~streamguard.inventory.merge.Partial` into
the stream's entry of ``inventory.json``.

Examples
--------
>>> inv = LiveInventory({"behavior": StreamSpec("events.behavior", "behavior.v1")})
>>> inv.observe("behavior", [b'{"user_id": "u1"}', b"not json", None])
>>> inv.lineage("behavior").count("events.behavior.clean", "clean", 2)
>>> entry = stream_entry(inv.partial("behavior", "w1", now=0.0))
>>> entry["records"], entry["objects"], entry["lineage"]["outputs"]
(3, 1, {'events.behavior.clean': {'role': 'clean', 'records': 2}})
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from streamguard.inventory.lineage import Lineage
from streamguard.inventory.merge import Partial
from streamguard.inventory.profile import StreamProfile
from streamguard.inventory.tags import Tagger

__all__ = ["Budget", "LiveInventory", "StreamSpec", "stream_entry"]


class Budget:
    """Time credit that accrues at ``share`` of wall time, at most ``burst_s`` held.

    >>> now = [0.0]
    >>> b = Budget(0.1, burst_s=0.5, clock=lambda: now[0])
    >>> b.spend(0.5); b.credit()
    0.0
    >>> now[0] = 2.0; b.credit()
    0.2
    >>> now[0] = 100.0; b.credit()
    0.5
    """

    def __init__(
        self, share: float, burst_s: float = 0.05, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.share = share
        self.burst_s = burst_s
        self._clock = clock
        self._credit = burst_s
        self._at = clock()

    def credit(self) -> float:
        """Seconds that may be spent now."""
        now = self._clock()
        self._credit = min(self.burst_s, self._credit + self.share * (now - self._at))
        self._at = now
        return round(self._credit, 9)

    def spend(self, seconds: float) -> None:
        """Take ``seconds`` off the credit (it may go below zero: repaid over time)."""
        self._credit -= seconds


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """An input stream: its source topic, schema version, declared top-level fields and
    the data contract in force (``{"id", "version", "hash"}``, as in ``_dq.contract``)."""

    source: str
    schema: str | None = None
    declared: frozenset[str] | None = None
    contract: Mapping[str, Any] | None = None


class LiveInventory:
    """Per input stream: records counted, a budgeted profile, the lineage counts.

    ``clock`` measures the profiling cost (``time.perf_counter``); ``rng`` picks the
    sample's offset.
    """

    def __init__(
        self,
        streams: Mapping[str, StreamSpec],
        *,
        cpu_share: float = 0.02,
        max_fields: int = 500,
        max_record_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.perf_counter,
        rng: random.Random | None = None,
    ) -> None:
        self.specs = dict(streams)
        self.max_record_bytes = max_record_bytes
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not security
        # At most 5 ms of profiling per batch: the credit a quiet spell accrues is spent
        # in small slices, not as one pause of the event loop (p99 latency).
        self._budget = Budget(cpu_share, burst_s=0.005, clock=clock)
        self._cost_s = 20e-6  # per record, measured as it goes
        self._seen = dict.fromkeys(self.specs, 0)
        self._profiles = {
            name: StreamProfile(
                name,
                source=spec.source,
                schema=spec.schema,
                declared=spec.declared,
                max_fields=max_fields,
            )
            for name, spec in self.specs.items()
        }
        self._lineage = {name: Lineage() for name in self.specs}

    def observe(self, stream: str, values: Sequence[bytes | None]) -> None:
        """Count a batch of ``stream``'s raw records; profile those the budget allows."""
        if not values:
            return
        self._seen[stream] += len(values)
        credit = self._budget.credit()
        if credit <= 0:
            return
        affordable = max(1, int(credit / self._cost_s))
        if affordable >= len(values):
            chosen: Sequence[bytes | None] = values
        else:
            stride = math.ceil(len(values) / affordable)
            chosen = values[self._rng.randrange(stride) :: stride]
        profile = self._profiles[stream]
        limit = self.max_record_bytes
        started = self._clock()
        for value in chosen:
            if value is None or len(value) > limit:
                profile.count_invalid()
                continue
            try:
                record = orjson.loads(value)
            except orjson.JSONDecodeError:
                profile.count_invalid()
                continue
            profile.learn_one(record)
        spent = self._clock() - started
        self._budget.spend(spent)
        self._cost_s = 0.8 * self._cost_s + 0.2 * max(spent / len(chosen), 1e-7)

    def release(self) -> None:
        """Drop the profiles (at shutdown: sketches alive when the interpreter ends make
        DataSketches' bindings print leak warnings). Observing after it is an error."""
        self._profiles.clear()

    def lineage(self, stream: str) -> Lineage:
        """The lineage counts of ``stream`` (count outputs on it)."""
        return self._lineage[stream]

    def seen(self, stream: str) -> int:
        """Records of ``stream`` counted."""
        return self._seen[stream]

    def pii_counts(self, stream: str) -> dict[tuple[str, str], int]:
        """Values profiled here that held each kind of PII: ``{(path, kind): n}``."""
        counts: dict[tuple[str, str], int] = {}
        profile = self._profiles[stream]
        flush = getattr(profile, "flush", None)  # a profile that buffers values per path
        if flush is not None:
            flush()
        fields = profile.__dict__["_fields"]  # same package: its own state
        for path, field in fields.items():
            present = field.summary().present
            for kind, share in field.pii().items():
                counts[path, kind] = round(share * present)
        return counts

    def partial(self, stream: str, worker: str, *, now: float) -> Partial:
        """This worker's partial of ``stream`` (live objects: serialise or merge it on
        the thread that observes)."""
        return Partial(
            stream, worker, now, self._seen[stream], self._lineage[stream], self._profiles[stream]
        )


def stream_entry(
    partial: Partial,
    tagger: Tagger | None = None,
    contract: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stream's entry of ``inventory.json`` from a (merged) partial: ``records``
    counts every record, ``sampled_records`` those profiled, ``lineage`` its outputs."""
    profile = partial.profile
    entry = profile.snapshot(tagger)
    sampled = profile.records
    entry["records"] = max(partial.seen, sampled)
    entry["sampled_records"] = sampled
    if sampled and entry["records"] > sampled:
        entry["objects"] = round(entry["objects"] * entry["records"] / sampled)
    entry["lineage"] = partial.lineage.as_dict(
        [profile.source or profile.stream], profile.schema, contract
    )
    return entry
