"""View models: what each page and ``/api/*`` endpoint shows, from the store (pure).

Each function returns JSON-able dicts; the HTML pages render the same dicts. Raw
quarantined values, reason messages and finding examples are masked per the PII policy
(:func:`streamguard.inventory.pii.mask`) before they leave here; the quarantine browser's
``limit`` is capped at :data:`MAX_LIMIT`.

Examples
--------
>>> from streamguard.console.store import ConsoleStore
>>> store = ConsoleStore()
>>> store.add("streamguard.quarantine", 0, 5, None, b'{"source": {"topic": "events.behavior", '
...           b'"partition": 1, "offset": 7}, "raw": "mail ana@example.com", '
...           b'"reasons": [{"code": "missing_field", "field": "user_id"}]}', 1.0)
>>> page = quarantine_view(store, QuarantineQuery(stream="behavior", reason=None, limit=10))
>>> page["records"][0]["raw"], page["records"][0]["source"]["offset"]
('mail [email]', 7)
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamguard.console.entries import QuarantineEntry
from streamguard.console.prometheus import PromOverview
from streamguard.console.store import ConsoleStore
from streamguard.inventory.pii import mask

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "QuarantineQuery",
    "QueryError",
    "findings_view",
    "incidents_view",
    "inventory_view",
    "mask_value",
    "parse_filters",
    "parse_quarantine_query",
    "quarantine_view",
    "rate_series",
    "recommendations_view",
    "streams_view",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: A raw value is shown up to this many characters (masked).
SHOWN_CHARS = 2_000
_NAME_CHARS = 200


class QueryError(ValueError):
    """A request parameter that cannot be used (the message says why): HTTP 400."""


@dataclass(frozen=True)
class QuarantineQuery:
    """``/api/quarantine``'s parameters, checked."""

    stream: str | None
    reason: str | None
    limit: int
    capped: bool = False


def _name(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if len(value) > _NAME_CHARS or not value.isprintable():
        raise QueryError(f"{key} must be a printable name of at most {_NAME_CHARS} characters")
    return value


def parse_quarantine_query(params: Mapping[str, str]) -> QuarantineQuery:
    """Check ``stream``, ``reason`` and ``limit`` (1..; above :data:`MAX_LIMIT` capped).

    >>> parse_quarantine_query({"limit": "9999"}).limit
    500
    >>> parse_quarantine_query({"limit": "x"})
    Traceback (most recent call last):
    ...
    streamguard.console.views.QueryError: limit must be a whole number, got 'x'
    """
    unknown = sorted(set(params) - {"stream", "reason", "limit"})
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r} (use stream, reason, limit)")
    text = params.get("limit", "")
    limit = DEFAULT_LIMIT
    if text != "":
        try:
            limit = int(text)
        except ValueError:
            raise QueryError(f"limit must be a whole number, got {text[:20]!r}") from None
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
    return QuarantineQuery(
        _name(params, "stream"), _name(params, "reason"), min(limit, MAX_LIMIT), limit > MAX_LIMIT
    )


def parse_filters(params: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str | None]:
    """Optional name filters (``stream``, ``kind``) of the other endpoints.

    >>> parse_filters({"stream": "behavior"}, ("stream", "kind"))
    {'stream': 'behavior', 'kind': None}
    """
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r} (use {', '.join(allowed)})")
    return {key: _name(params, key) for key in allowed}


def mask_value(value: Any) -> Any:
    """Strings masked, lists and dicts walked; other values as they are.

    >>> mask_value({"to": ["ana@example.com", 3]})
    {'to': ['[email]', 3]}
    """
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k): mask_value(v) for k, v in itertools.islice(value.items(), 50)}
    return value


def _shown_raw(entry: QuarantineEntry) -> str:
    """The raw value as text, cut to :data:`SHOWN_CHARS` and masked (computed once)."""
    if entry.masked is None:
        text = entry.raw
        if entry.encoding == "base64":
            try:
                text = base64.b64decode(entry.raw[: SHOWN_CHARS * 2]).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                text = entry.raw
        cut = text[:SHOWN_CHARS]
        entry.masked = mask(cut) + ("..." if len(text) > SHOWN_CHARS else "")
    return entry.masked


def quarantine_view(store: ConsoleStore, query: QuarantineQuery) -> dict[str, Any]:
    """The latest quarantine records matching ``query``, newest first, with the reason
    counts of what the console has seen."""
    entries = itertools.islice(store.quarantine_latest(query.stream, query.reason), query.limit)
    records = [
        {
            "stream": e.stream,
            "reasons": [
                {
                    "code": r.get("code"),
                    "field": r.get("field"),
                    "message": mask(str(r.get("message") or ""))[:300],
                }
                for r in e.reasons
            ],
            "source": e.source.as_dict() if e.source is not None else None,
            "position": e.position.as_dict(),
            "received_at": e.received_at,
            "encoding": e.encoding,
            "raw": _shown_raw(e),
        }
        for e in entries
    ]
    reasons = [
        {"stream": stream, "code": code, "count": count}
        for (stream, code), count in store.reasons_seen.most_common()
        if query.stream in (None, stream)
    ]
    return {
        "stream": query.stream,
        "reason": query.reason,
        "limit": query.limit,
        "limit_capped": query.capped,
        "records": records,
        "reasons": reasons[:100],
        "streams": sorted(store.quarantine),
        "seen": dict(store.quarantine_seen),
    }


def _rate(history: list[tuple[float, int, int]], window_s: float = 60.0) -> float | None:
    """Records per second over the last ``window_s`` of a stream's totals history."""
    if len(history) < 2:
        return None
    end_t, end_in, _ = history[-1]
    start = next((h for h in history if h[0] >= end_t - window_s), history[0])
    if start[0] >= end_t:
        start = history[-2]
    if end_t <= start[0]:
        return None
    return max(end_in - start[1], 0) / (end_t - start[0])


def rate_series(history: list[tuple[float, int, int]]) -> list[tuple[float, float]]:
    """Records per second between consecutive totals (a worker restart's drop is 0).

    >>> rate_series([(0, 0, 0), (10, 100, 5), (20, 150, 5)])
    [(10, 10.0), (20, 5.0)]
    """
    out = []
    for (t0, in0, _), (t1, in1, _) in itertools.pairwise(history):
        if t1 > t0:
            out.append((t1, max(in1 - in0, 0) / (t1 - t0)))
    return out


def streams_view(
    store: ConsoleStore, prometheus: PromOverview | None, now_s: float
) -> dict[str, Any]:
    """Per stream: rates, outcome shares, quality score and dimensions, findings and open
    incidents. From Prometheus when given, else from the counts on the topics."""
    open_by_stream: dict[str, int] = {}
    for state in store.incidents.values():
        if state.body.get("status") != "resolved":
            stream = str(state.body.get("stream"))
            open_by_stream[stream] = open_by_stream.get(stream, 0) + 1
    names = set(store.streams())
    if prometheus is not None:
        names |= set(prometheus.rates) | set(prometheus.outcomes) | set(prometheus.quality)
    names.discard("")
    streams = []
    for name in sorted(names):
        history = list(store.history.get(name, ()))
        workers = [w for (s, _), w in store.workers.items() if s == name]
        records_in = sum(w.records_in for w in workers)
        quarantined = sum(w.records_quarantined for w in workers)
        outcomes: dict[str, float] = {}
        quality: dict[str, float] = {}
        rate = _rate(history)
        series = rate_series(history)
        quality_series: list[tuple[float, float]] = []
        if prometheus is not None and prometheus.error is None:
            outcomes = dict(prometheus.outcomes.get(name, {}))
            if not any(outcomes.values()) and records_in:  # too few samples yet
                outcomes = {"quarantine": quarantined, "not quarantined": records_in - quarantined}
            quality = dict(prometheus.quality.get(name, {}))
            series = prometheus.rates.get(name, [])
            rate = series[-1][1] if series else None
            quality_series = prometheus.quality_series.get(name, [])
        elif records_in:
            outcomes = {"quarantine": quarantined, "not quarantined": records_in - quarantined}
        if not quality:  # without Prometheus: the dimensions that are dropping now
            for worker in workers:
                for signal in worker.signals:
                    dimension, statistic = signal.get("dimension"), signal.get("statistic")
                    if dimension and isinstance(statistic, int | float):
                        quality[str(dimension)] = min(
                            float(statistic), quality.get(str(dimension), 1.0)
                        )
        order = {"valid": 0, "corrected": 1, "not quarantined": 1, "quarantine": 2}
        outcomes = dict(sorted(outcomes.items(), key=lambda i: (order.get(i[0], 3), i[0])))
        total = sum(outcomes.values())
        reasons: dict[str, int] = {}
        for (stream, code), count in store.reasons_seen.items():
            if stream == name:
                reasons[code] = count
        streams.append(
            {
                "stream": name,
                "records_in": records_in,
                "records_quarantined": quarantined,
                "rate_per_s": None if rate is None else round(rate, 3),
                "outcomes": {k: round(v, 3) for k, v in outcomes.items()},
                "outcome_shares": {k: round(v / total, 4) for k, v in outcomes.items()}
                if total
                else {},
                "quality": {k: round(v, 4) for k, v in sorted(quality.items())},
                "findings": {
                    k: n for (s, k), n in sorted(store.findings_seen.items()) if s == name
                },
                "open_incidents": open_by_stream.get(name, 0),
                "quarantine_reasons_seen": dict(sorted(reasons.items(), key=lambda i: -i[1])),
                "rate_series": [(t, round(v, 4)) for t, v in series[-120:]],
                "quality_series": [(t, round(v, 4)) for t, v in quality_series[-120:]],
            }
        )
    return {
        "source": "prometheus" if prometheus is not None and prometheus.error is None else "topics",
        "prometheus_error": prometheus.error if prometheus is not None else None,
        "generated_at_s": round(now_s, 3),
        "streams": streams,
    }


def _incident(state: Any) -> dict[str, Any]:
    body = state.body
    return {
        "incident_id": body.get("incident_id"),
        "stream": body.get("stream"),
        "status": body.get("status"),
        "severity": body.get("severity"),
        "summary": mask(str(body.get("summary") or "")),
        "signals": [s for s in body.get("signals") or [] if isinstance(s, dict)],
        "top_reasons": list(body.get("top_reasons") or [])[:10],
        "examples": list(body.get("examples") or [])[:10],
        "records_in": body.get("records_in"),
        "records_quarantined": body.get("records_quarantined"),
        "started_at": body.get("started_at"),
        "ended_at": body.get("ended_at"),
        "duration_s": body.get("duration_s"),
        "timeline": list(state.timeline),
    }


def incidents_view(
    store: ConsoleStore, stream: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Open incidents, then the most recent resolved ones (``limit`` of them)."""
    items = [
        _incident(s) for s in store.incidents.values() if stream in (None, s.body.get("stream"))
    ]
    items.sort(key=lambda i: str(i["started_at"] or ""), reverse=True)
    return {
        "open": [i for i in items if i["status"] != "resolved"],
        "recent": [i for i in items if i["status"] == "resolved"][:limit],
    }


def findings_view(
    store: ConsoleStore, stream: str | None = None, kind: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Each (stream, kind, field) series of statistic and threshold, and the latest
    findings with their (masked) examples."""
    series = [
        {
            "stream": s,
            "kind": k,
            "field": f,
            "points": [
                {
                    "detected_at": p.detected_at,
                    "t": p.timestamp_s,
                    "statistic": p.statistic,
                    "threshold": p.threshold,
                }
                for p in points
            ],
        }
        for (s, k, f), points in sorted(store.series.items())
        if stream in (None, s) and kind in (None, k)
    ]
    recent = [
        {**f, "examples": mask_value(f.get("examples") or [])}
        for f in reversed(store.findings)
        if stream in (None, f.get("stream")) and kind in (None, f.get("kind"))
    ][:limit]
    counts = [
        {"stream": s, "kind": k, "count": n} for (s, k), n in sorted(store.findings_seen.items())
    ]
    return {"series": series, "recent": recent, "counts": counts}


def inventory_view(store: ConsoleStore, stream: str | None = None) -> dict[str, Any]:
    """Each stream's inventory (fields, types, tags, PII), as published."""
    return {
        "streams": {
            name: inventory
            for name, inventory in sorted(store.inventory.items())
            if stream in (None, name)
        }
    }


def recommendations_view(store: ConsoleStore, limit: int = 20) -> dict[str, Any]:
    """The latest recommendation lists seen (newest first)."""
    return {"lists": list(reversed(store.recommendations))[:limit]}
