"""Operator acceptance of a drift by configuration (``STREAMGUARD_DRIFT_ACCEPT``).

An entry ``stream.field`` (optionally ``stream.field@token``) says "the values this field
carries now are the new normal". The worker applies it once, at start, right after the
detectors' state is restored (:class:`~streamguard.runtime.detector_state.DetectorSnapshots`):
it calls the stream's :meth:`~streamguard.drift.engine.DriftEngine.acknowledge` for the
field, so every detector of the field with an open episode (semantic, contamination,
language, gradual) takes the drift into its reference and clears its signal.

Which entries were applied is kept in the drift engine's state file, with the token, so:

* restarting with the same setting does nothing more (the entry was applied);
* a new entry, or the same ``stream.field`` with another token (``@2026-12-04T17:00Z``,
  an incident id), is applied once at the next start;
* an entry removed from the setting is forgotten: put back, it applies again;
* an entry is applied (and recorded) even when nothing is open: it accepts the drift
  open at that start, never a later one (for that, change the token);
* the record is saved with the state it was applied to: a worker stopped before its
  next save applies it again to the state it restores.

Examples
--------
>>> parse_entries("product.category, product.description@2026-12-04T17:00Z")
['product.category', 'product.description@2026-12-04T17:00Z']
>>> parse_entries('["behavior.query"]')
['behavior.query']
>>> Acceptance.parse("product.description@INC-42")
Acceptance(stream='product', field='description', token='INC-42')
>>> parse_entries("product")
Traceback (most recent call last):
...
ValueError: drift_accept entry 'product' is not stream.field[@token]
>>> applied = {"product": {"category": ""}}
>>> [a.entry for a in pending(parse_entries("product.category,product.title"), applied)]
['product.title']
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = ["Acceptance", "Accepted", "Acknowledger", "accept", "parse_entries", "pending"]

log = logging.getLogger(__name__)

_ENTRY: Final = re.compile(
    r"^(?P<stream>[A-Za-z0-9_-]+)\.(?P<field>[A-Za-z_][A-Za-z0-9_.-]*)"
    r"(?:@(?P<token>[A-Za-z0-9_.:+-]{1,64}))?$"
)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One configured entry: accept the drift of ``stream``'s ``field`` (``token``: ""
    when none, else what tells this acceptance from an earlier one of the field)."""

    stream: str
    field: str
    token: str = ""

    @classmethod
    def parse(cls, entry: str) -> Acceptance:
        """``stream.field[@token]``; ``ValueError`` for anything else."""
        match = _ENTRY.match(entry.strip())
        if match is None:
            raise ValueError(f"drift_accept entry {entry.strip()!r} is not stream.field[@token]")
        return cls(match["stream"], match["field"], match["token"] or "")

    @property
    def entry(self) -> str:
        """The entry as configured (normalised)."""
        return f"{self.stream}.{self.field}" + (f"@{self.token}" if self.token else "")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An acceptance applied at this start: the detectors that had an open drift and
    took it into their reference (empty: nothing was open)."""

    acceptance: Acceptance
    detectors: tuple[str, ...]


class Acknowledger(Protocol):
    """What :func:`accept` needs of a stream's drift engine."""

    def acknowledge(self, field: str) -> list[str]:
        """Accept the field's open drift; the detectors that accepted one."""
        ...


def parse_entries(value: Any) -> list[str]:
    """The setting's value as normalised entries: a list, a JSON list or a comma-separated
    string (the environment variable). ``ValueError`` for a malformed entry or one
    ``stream.field`` twice (two tokens would make "applied" ambiguous)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"drift_accept is not a JSON list: {exc}") from exc
        else:
            value = [part for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("drift_accept must be a list of 'stream.field[@token]' strings")
    parsed = [Acceptance.parse(v) for v in value]
    seen: set[tuple[str, str]] = set()
    for item in parsed:
        if (item.stream, item.field) in seen:
            raise ValueError(f"drift_accept names {item.stream}.{item.field} twice")
        seen.add((item.stream, item.field))
    return [item.entry for item in parsed]


def pending(entries: Iterable[str], applied: Mapping[str, Mapping[str, str]]) -> list[Acceptance]:
    """The entries not applied yet: no record of their field, or another token.
    ``applied``: stream -> field -> token, as kept in the state."""
    out = []
    for entry in entries:
        item = Acceptance.parse(entry)
        if applied.get(item.stream, {}).get(item.field) != item.token:
            out.append(item)
    return out


def accept(
    entries: Iterable[str],
    engines: Mapping[str, Acknowledger],
    applied: dict[str, dict[str, str]],
) -> list[Accepted]:
    """Apply the pending entries to ``engines`` and update ``applied`` in place: it then
    holds exactly the configured entries of the streams that have an engine (an entry
    dropped from the setting is forgotten). An entry for a stream without an engine is
    logged and not recorded. Returns what was applied now."""
    configured = [Acceptance.parse(e) for e in entries]
    done = []
    for item in pending([a.entry for a in configured], applied):
        engine = engines.get(item.stream)
        if engine is None:
            log.warning("drift_accept %s: no drift engine for stream %s", item.entry, item.stream)
            continue
        detectors = tuple(engine.acknowledge(item.field))
        if detectors:
            log.info(
                "drift of %s.%s accepted as the new normal (drift_accept %s): %s",
                item.stream,
                item.field,
                item.entry,
                ", ".join(detectors),
            )
        else:
            log.info(
                "drift_accept %s applied: no open drift of %s.%s to accept",
                item.entry,
                item.stream,
                item.field,
            )
        done.append(Accepted(item, detectors))
    kept: dict[str, dict[str, str]] = {}
    for item in configured:
        if item.stream in engines:
            kept.setdefault(item.stream, {})[item.field] = item.token
    applied.clear()
    applied.update(kept)
    return done
