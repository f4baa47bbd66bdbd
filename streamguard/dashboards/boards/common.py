"""What every dashboard module shares: PromQL fragments, template variables, panel helpers.

Conventions: ``$stream`` and ``$field`` are multi-select template variables (regex
matchers, ``.*`` for All); counters are read with ``rate(...[$__rate_interval])``;
``or on() vector(0)`` makes "nothing happened" read as 0 instead of "No data".

Examples
--------
>>> [q.legend for q in quantiles("streamguard_batch_processing_seconds", "stream")]
['{{stream}} p50', '{{stream}} p99']
>>> quantiles("h", "")[1].expr
'histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval])))'
"""

from __future__ import annotations

from streamguard.dashboards.spec import Panel, PanelKind, Query, Variable

__all__ = ["FIELD_VAR", "RATE", "S", "SF", "STREAM_VAR", "Q", "quantiles", "score"]

Q = Query
S = '{stream=~"$stream"}'
SF = '{stream=~"$stream", field=~"$field"}'
RATE = "[$__rate_interval]"

STREAM_VAR = Variable(
    "stream", "Stream", "streamguard_records_in_total", "Event streams (behavior, product)."
)
FIELD_VAR = Variable(
    "field",
    "Field",
    None,
    "Schema fields (_all: the whole stream; _record: the whole record; _other: fields the "
    "schema does not declare).",
)


def quantiles(histogram: str, by: str, selector: str = "") -> tuple[Query, ...]:
    """p50 and p99 of a histogram, per ``by`` label (``""``: over everything)."""
    labels = f"le, {by}" if by else "le"
    legend = f"{{{{{by}}}}} " if by else ""
    return tuple(
        Q(
            f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({histogram}_bucket{selector}{RATE})))",
            f"{legend}p{round(q * 100)}",
        )
        for q in (0.5, 0.99)
    )


def score(
    title: str,
    question: str,
    kind: PanelKind,
    queries: tuple[Query, ...],
    *,
    thresholds: tuple[float, ...] = (),
    width: int = 12,
) -> Panel:
    """A panel of scores or shares in [0, 1] where high is good (red below thresholds)."""
    return Panel(
        title,
        question,
        kind,
        queries,
        unit="percentunit",
        width=width,
        min=0,
        max=1,
        thresholds=thresholds,
        thresholds_good_high=True,
    )
