"""Structural drift: presence and JSON-type frequencies per stream, group and field.

The detector sees each record as decoded (before repair), groups it (behaviour by
``event_type``, product by ``op``: a burst of searches is not a missing ``product_id``),
and compares each completed block of ``block_size`` records of a group with the group's
reference (its warm-up plus the quiet blocks since, older ones weighing less: see
:class:`~streamguard.drift.schema_counts.Reference`). It reports ``schema_drift`` when:

* **new field**: a field the schema does not declare, absent from the reference, has been
  seen ``min_support`` times at a rate of at least ``new_field_rate`` since it first
  appeared (a one-off unknown field never fires);
* **missing field**: a declared field's presence fell by at least ``presence_drop``
  (absolute) from the reference;
* **type mix**: the share of one JSON type among a field's values rose by at least
  ``type_shift`` (e.g. ``price`` arriving as a string in 40% of records).

Statistic: the change in share; threshold: the larger of the knob and ``z`` standard
errors of a two-proportion test (so thin windows need bigger changes).

**Signals.** A change stays *active* while it persists: every block of the group is
compared again, and :meth:`SchemaDriftDetector.active_signals` reports it (latest
statistic, first seen) until a block of that group no longer shows it; a new field
stays active while it keeps arriving at ``new_field_rate`` or more (measured over every
``block_size`` records of the stream). One finding per episode: while one group has a
(field, change) active, no group reports it again, and blocks with an active change do
not join the reference. There is no automatic acceptance: a field gone for good stays
active until it returns (or the schema changes).

**A bounded reference.** Each merged block scales the reference's older counts by
``0.5 ** (1 / reference_half_life)`` (half-life in blocks of the group), so a field not
seen for long decays out and the reference follows the stream instead of its whole
history; it holds at most ``max_reference_fields`` undeclared names (the rest share an
overflow bucket and get no type checks).

Examples
--------
>>> from streamguard.events.records import SourcePosition
>>> d = SchemaDriftDetector("product", ["event_id", "op", "price"], clock=lambda: 0.0)
>>> found = []
>>> for i in range(600):
...     price = "9.99" if i >= 400 and i % 5 < 2 else 9.99
...     found += d.update({"event_id": str(i), "op": "upsert", "price": price},
...                       SourcePosition("t", 0, i))
>>> [(f.field, f.details["change"], round(f.statistic, 2)) for f in found]
[('price', 'type:string', 0.4)]
>>> [(s.field, s.details["change"], round(s.statistic, 2)) for s in d.active_signals()]
[('price', 'type:string', 0.4)]
>>> d.drain_statistics()["price"][0] == found[0].statistic  # the block's largest change
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streamguard.drift.schema_counts import BlockCounts, Reference, json_type, z_bound
from streamguard.events.findings import Finding
from streamguard.events.records import SourcePosition
from streamguard.events.signals import Signal

__all__ = ["SchemaDriftDetector", "json_type"]

#: Groups per stream are bounded: unknown group values share one bucket.
_MAX_GROUPS = 32
#: Undeclared names followed at once before they count as new (one-off names are forgotten).
_MAX_TRACKED = 1000

# A detection in one block: field, change, statistic, threshold, window, examples, summary.
_Detection = tuple[str, str, float, float, dict[str, Any], list[Any], str]


class SchemaDriftDetector:
    """Presence and type-mix drift of one stream's fields (see the module docstring)."""

    def __init__(
        self,
        stream: str,
        declared: Iterable[str],
        *,
        group_field: str | None = None,
        group_values: Iterable[str] = (),
        block_size: int = 100,
        warmup: int = 200,
        min_support: int = 20,
        new_field_rate: float = 0.05,
        presence_drop: float = 0.3,
        type_shift: float = 0.15,
        z: float = 4.0,
        max_reference_fields: int = 256,
        reference_half_life: float = 50.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if block_size < min_support:
            raise ValueError("block_size must be >= min_support")
        if max_reference_fields < 0 or reference_half_life <= 0:
            raise ValueError("max_reference_fields must be >= 0, reference_half_life > 0")
        self.stream = stream
        self.declared = frozenset(declared)
        self.group_field = group_field
        self.group_values = frozenset(group_values)
        self.block_size = block_size
        self.warmup = warmup
        self.min_support = min_support
        self.new_field_rate = new_field_rate
        self.presence_drop = presence_drop
        self.type_shift = type_shift
        self.z = z
        self.max_reference_fields = max_reference_fields
        self.reference_half_life = reference_half_life
        self._clock = clock
        self._order = tuple(dict.fromkeys(declared))  # declared fields, in a stable order
        self._decay = 0.5 ** (1.0 / reference_half_life)
        self._reference: dict[str, Reference] = {}
        self._warm: set[str] = set()
        self._block: dict[str, BlockCounts] = {}
        # (group, field, change) -> (statistic, threshold, since) while the block shows it
        self._active: dict[tuple[str, str, str], tuple[float, float, float]] = {}
        self._records = 0
        self._window_end = block_size
        self._known_new: set[str] = set()  # undeclared names there from the start
        self._new_fields: dict[str, tuple[int, int]] = {}  # name -> (first seen, count)
        # reported new fields while they keep arriving: name -> [since, count, from, rate]
        self._new_active: dict[str, list[float]] = {}
        self._stats: dict[str, tuple[float, float]] = {}

    def _group(self, record: Mapping[str, Any]) -> str:
        if self.group_field is None:
            return "_all"
        value = record.get(self.group_field)
        if isinstance(value, str) and (
            value in self.group_values or (not self.group_values and len(self._block) < _MAX_GROUPS)
        ):
            return value
        return "_other"

    def update(self, record: Mapping[str, Any], position: SourcePosition) -> list[Finding]:
        """Count one decoded record; returns the findings this record completes."""
        self._records += 1
        # set differences run in C: most records carry no unknown field at all
        extra = record.keys() - self.declared
        findings = self._track_new_fields(record, extra, position) if extra else []
        if self._records >= self._window_end:
            self._close_window()
        group = self._group(record)
        block = self._block.get(group)
        if block is None:
            block = self._block[group] = BlockCounts()
        block.add(record)
        if block.n >= self.block_size:
            self._block[group] = BlockCounts()
            findings += self._compare(group, block.close(), position)
        return findings

    # --- new fields -------------------------------------------------------------------

    def _track_new_fields(
        self, record: Mapping[str, Any], extra: set[str], position: SourcePosition
    ) -> list[Finding]:
        findings: list[Finding] = []
        active = self._new_active
        if active:
            for name in extra & active.keys():
                active[name][1] += 1
        for name in sorted(extra - self._known_new - active.keys()):
            if self._records <= self.warmup:
                if len(self._known_new) < self.max_reference_fields:
                    self._known_new.add(name)  # there from the start: part of the reference
                continue
            first, count = self._new_fields.get(name, (self._records, 0))
            count += 1
            if len(self._new_fields) < _MAX_TRACKED or name in self._new_fields:
                self._new_fields[name] = (first, count)
            seen_over = self._records - first + 1
            rate = count / seen_over
            if count >= self.min_support and rate >= self.new_field_rate:
                self._new_fields.pop(name, None)
                finding = self._finding(
                    name,
                    f"new_field:{name}",
                    rate,
                    self.new_field_rate,
                    {"since_first_seen": seen_over, "seen": count},
                    [f"after: {name}={record[name]!r}"],
                    position,
                    f"{self.stream}: undeclared field {name!r} keeps appearing "
                    f"({count} of the last {seen_over} records)",
                )
                active[name] = [finding.detected_at, 0.0, float(self._records), rate]
                findings.append(finding)
        if len(self._new_fields) >= _MAX_TRACKED:  # one-off names: forget the stale ones
            horizon = self._records - 10 * self.block_size
            self._new_fields = {k: v for k, v in self._new_fields.items() if v[0] > horizon}
        return findings

    def _close_window(self) -> None:
        """Every ``block_size`` records: is each reported new field still arriving?"""
        self._window_end = self._records + self.block_size
        for name, state in list(self._new_active.items()):
            counted = self._records - state[2]
            if counted < self.block_size:
                continue  # reported mid-window: judge it over a whole one
            rate = state[1] / counted
            if rate < self.new_field_rate:
                del self._new_active[name]  # cleared; it is new again if it comes back
            else:
                state[1:] = [0.0, float(self._records), rate]

    # --- blocks against the reference -------------------------------------------------

    def _compare(self, group: str, block: BlockCounts, position: SourcePosition) -> list[Finding]:
        reference = self._reference.get(group)
        if reference is None or group not in self._warm:
            if reference is None:
                reference = self._reference[group] = Reference()
            reference.merge(
                block, declared=self.declared, decay=1.0, max_fields=self.max_reference_fields
            )
            if reference.n >= self.warmup:
                self._warm.add(group)
            return []
        detections = self._detect(group, block, reference)
        previous = self._active
        now = self._clock() if detections else 0.0
        findings: list[Finding] = []
        current: dict[tuple[str, str, str], tuple[float, float, float]] = {}
        for name, change, statistic, bound, window, examples, summary in detections:
            key = (group, name, change)
            old = previous.get(key)
            current[key] = (statistic, bound, old[2] if old is not None else now)
            if not any(k[1:] == key[1:] for k in previous):  # one finding per episode
                findings.append(
                    self._finding(
                        name, change, statistic, bound, window, examples, position, summary, now
                    )
                )
        self._active = {k: v for k, v in previous.items() if k[0] != group} | current
        if not current:
            reference.merge(
                block,
                declared=self.declared,
                decay=self._decay,
                max_fields=self.max_reference_fields,
            )
        return findings

    def _detect(self, group: str, block: BlockCounts, reference: Reference) -> list[_Detection]:
        found: list[_Detection] = []
        n_ref, n_new = reference.n, block.n
        ref_presence = reference.presence
        for name in self._order:
            p_ref = ref_presence.get(name, 0.0) / n_ref
            p_new = block.presence[name] / n_new
            bound = max(self.presence_drop, z_bound(p_ref, n_ref, p_new, n_new, self.z))
            self._note(name, p_ref - p_new, bound)
            if p_ref - p_new >= bound:
                found.append((
                    name, "missing", p_ref - p_new, bound,
                    {"reference": round(n_ref), "recent": n_new, "group": group},
                    [f"before: present in {p_ref:.0%}", f"after: present in {p_new:.0%}"],
                    f"{self.stream}.{name} ({group}): present in {p_new:.0%} of the "
                    f"last {n_new} records, {p_ref:.0%} before",
                ))  # fmt: skip
        for (name, type_name), count in block.types.items():
            present = block.presence[name]
            ref_present = ref_presence.get(name, 0.0)
            if present < self.min_support or not ref_present:
                continue  # thin, or nothing to compare with (new fields are tracked apart)
            kind = type_name or "other"
            q_new = count / present
            q_ref = reference.types.get((name, type_name), 0.0) / ref_present
            bound = max(self.type_shift, z_bound(q_ref, ref_present, q_new, present, self.z))
            self._note(name, q_new - q_ref, bound)
            if q_new - q_ref >= bound:
                found.append((
                    name, f"type:{kind}", q_new - q_ref, bound,
                    {"reference": round(ref_present), "recent": present, "group": group},
                    [f"before: {kind} {q_ref:.0%}", f"after: {kind} {q_new:.0%}"],
                    f"{self.stream}.{name} ({group}) type mix changed: {kind} "
                    f"{q_ref:.0%} -> {q_new:.0%}",
                ))  # fmt: skip
        return found

    # --- what is exported -------------------------------------------------------------

    def _note(self, name: str, statistic: float, threshold: float) -> None:
        """Keep each field's largest change (furthest past its threshold) until drained."""
        old = self._stats.get(name)
        if old is None or statistic - threshold > old[0] - old[1]:
            self._stats[name] = (statistic, threshold)

    def drain_statistics(self) -> dict[str, tuple[float, float]]:
        """Per field, the largest change of the blocks compared since the last call (the
        change furthest past, or nearest, its threshold): ``(statistic, threshold)``."""
        stats, self._stats = self._stats, {}
        return stats

    def active_signals(self) -> list[Signal]:
        """The changes that hold now: one signal per field and change (read per batch)."""
        merged: dict[tuple[str, str], tuple[float, float, float, list[str]]] = {}
        for (group, name, change), (statistic, threshold, since) in self._active.items():
            old = merged.get((name, change))
            if old is None:
                merged[name, change] = (statistic, threshold, since, [group])
            else:
                best = max((statistic, threshold), old[:2])
                merged[name, change] = (*best, min(since, old[2]), [*old[3], group])
        signals = [
            Signal("schema_drift", self.stream, name, stat, threshold, since,
                   details={"change": change, "groups": sorted(groups)})
            for (name, change), (stat, threshold, since, groups) in merged.items()
        ]  # fmt: skip
        signals += [
            Signal("schema_drift", self.stream, name, state[3], self.new_field_rate, state[0],
                   details={"change": f"new_field:{name}"})
            for name, state in self._new_active.items()
        ]  # fmt: skip
        return sorted(signals, key=lambda s: (s.field or "", s.details["change"]))

    def _finding(
        self,
        field: str,
        change: str,
        statistic: float,
        threshold: float,
        window: dict[str, Any],
        examples: list[Any],
        position: SourcePosition,
        summary: str,
        detected_at: float | None = None,
    ) -> Finding:
        return Finding(
            kind="schema_drift",
            stream=self.stream,
            field=field,
            severity="warning",
            statistic=statistic,
            threshold=threshold,
            window=window,
            examples=examples,
            position=position,
            detected_at=self._clock() if detected_at is None else detected_at,
            summary=summary,
            details={"change": change},
        )
