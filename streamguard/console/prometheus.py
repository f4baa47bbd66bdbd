"""The streams overview's time series, from Prometheus's HTTP API (``--prometheus URL``).

Four queries over the last hour, run together with a short timeout and cached for a few
seconds, so a page never waits long on Prometheus and a busy page does not hammer it:
the input rate per stream (a range), outcome counts per stream (an instant ``increase``),
the latest quality score per stream and dimension, and the composite score over the hour
(a range). :func:`parse_vector` and :func:`parse_matrix` are pure; a failure becomes an
``error`` string in the overview, never an exception in a page.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["PromOverview", "PrometheusSource", "QUERIES", "parse_matrix", "parse_vector"]

QUERIES = {
    "rate": "sum by (stream) (rate(streamguard_records_in_total[1m]))",
    "outcomes": "sum by (stream, outcome) (increase(streamguard_records_out_total[1h]))",
    "quality": 'max by (stream, dimension) (streamguard_quality_score{field="_all"})',
    "quality_series": (
        'max by (stream) (streamguard_quality_score{dimension="composite", field="_all"})'
    ),
}


@dataclass
class PromOverview:
    """What Prometheus said about each stream over the last hour."""

    rates: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, float]] = field(default_factory=dict)
    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    quality_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    error: str | None = None


def parse_vector(body: Any, *labels: str) -> dict[tuple[str, ...], float]:
    """An instant query's answer as ``{(label values...): value}``.

    >>> body = {"status": "success", "data": {"resultType": "vector", "result": [
    ...     {"metric": {"stream": "behavior"}, "value": [1.0, "12.5"]}]}}
    >>> parse_vector(body, "stream")
    {('behavior',): 12.5}
    """
    out: dict[tuple[str, ...], float] = {}
    for item in _result(body):
        metric, value = item.get("metric") or {}, item.get("value")
        if isinstance(value, list) and len(value) == 2:
            key = tuple(str(metric.get(label, "")) for label in labels)
            out[key] = _number(value[1])
    return out


def parse_matrix(body: Any, label: str) -> dict[str, list[tuple[float, float]]]:
    """A range query's answer as ``{label value: [(t, value), ...]}`` (NaN dropped).

    >>> body = {"status": "success", "data": {"resultType": "matrix", "result": [
    ...     {"metric": {"stream": "product"}, "values": [[60, "1"], [120, "NaN"]]}]}}
    >>> parse_matrix(body, "stream")
    {'product': [(60.0, 1.0)]}
    """
    out: dict[str, list[tuple[float, float]]] = {}
    for item in _result(body):
        name = str((item.get("metric") or {}).get(label, ""))
        points = []
        for pair in item.get("values") or []:
            value = _number(pair[1])
            if value == value:  # not NaN
                points.append((float(pair[0]), value))
        out[name] = points
    return out


def _result(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"Prometheus answered: {error or 'no success'}")
    result = (body.get("data") or {}).get("result") or []
    return [item for item in result if isinstance(item, dict)]


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


class PrometheusSource:
    """Asks Prometheus at ``url`` for the overview; cached ``cache_s`` seconds."""

    def __init__(self, url: str, *, timeout_s: float = 0.5, cache_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._cached: tuple[float, PromOverview] | None = None

    async def overview(self, session: aiohttp.ClientSession, now_s: float) -> PromOverview:
        """The last hour up to ``now_s`` (seconds since the epoch)."""
        if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_s:
            return self._cached[1]
        start, step = now_s - 3600, "15"
        try:
            async with asyncio.timeout(self.timeout_s):
                rate, outcomes, quality, series = await asyncio.gather(
                    self._get(session, "query_range", QUERIES["rate"], start, now_s, step),
                    self._get(session, "query", QUERIES["outcomes"], None, now_s, None),
                    self._get(session, "query", QUERIES["quality"], None, now_s, None),
                    self._get(
                        session, "query_range", QUERIES["quality_series"], start, now_s, step
                    ),
                )
            overview = PromOverview(rates=parse_matrix(rate, "stream"))
            for (stream, outcome), value in parse_vector(outcomes, "stream", "outcome").items():
                overview.outcomes.setdefault(stream, {})[outcome] = value
            for (stream, dimension), value in parse_vector(quality, "stream", "dimension").items():
                overview.quality.setdefault(stream, {})[dimension] = value
            overview.quality_series = parse_matrix(series, "stream")
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            overview = PromOverview(error=f"Prometheus at {self.url}: {str(exc) or 'timed out'}")
        self._cached = (time.monotonic(), overview)
        return overview

    async def _get(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        query: str,
        start: float | None,
        end: float,
        step: str | None,
    ) -> Any:
        params = {"query": query}
        if start is not None and step is not None:
            params |= {"start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        else:
            params["time"] = f"{end:.3f}"
        async with session.get(f"{self.url}/api/v1/{endpoint}", params=params) as response:
            return await response.json(content_type=None)
