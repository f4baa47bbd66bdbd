"""One self-contained HTML page for a ``streamguard check`` run.

Everything is inline (CSS, SVG charts drawn by :mod:`streamguard.report.svg`), so the file
opens offline, from disk or as a CI artefact. Every value from the data is escaped; raw
quarantined values arrive already PII-masked (:mod:`streamguard.report.quarantine`) and
inventory top values are masked by the profiler.

>>> page = render_check_report(
...     {"stream": "behavior", "total": 2, "outcomes": {"valid": 1, "corrected": 0,
...      "quarantine": 1}, "reasons_by_field": {"invalid_type:ts": 1}},
...     source_name="<events>.jsonl")
>>> page.startswith("<!doctype html>") and "&lt;events&gt;.jsonl" in page
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

import orjson

from streamguard.report.series import Point, detector_of
from streamguard.report.svg import Series, bar, line_chart

__all__ = ["render_check_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:0;color:#0f172a;
background:#f1f5f9}
header{background:#0f172a;color:#f8fafc;padding:16px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cbd5e1}main{padding:8px 28px 40px;max-width:1100px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;
margin:16px 0}h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
th{font-weight:600;color:#334155}td.n{text-align:right;font-variant-numeric:tabular-nums}
.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{border:1px solid #e2e8f0;border-radius:8px;
padding:8px 14px;min-width:120px}.tile b{display:block;font-size:22px}
.valid{color:#15803d}.corrected{color:#b45309}.quarantine{color:#b91c1c}
code,pre{font:12px/1.4 ui-monospace,'DejaVu Sans Mono',monospace}
pre{white-space:pre-wrap;word-break:break-all;background:#f8fafc;padding:6px;margin:0}
.tag{display:inline-block;background:#e0e7ff;border-radius:4px;padding:0 5px;margin:1px;
font-size:12px}.pii{background:#fee2e2}.muted{color:#64748b}
.charts{display:flex;flex-wrap:wrap;gap:4px 16px}.charts svg{margin:6px 0}
"""

_OUTCOMES = ("valid", "corrected", "quarantine")


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _counts(title: str, counts: Mapping[str, int], total: int, empty: str) -> str:
    if not counts:
        return f"<section><h2>{escape(title)}</h2><p class='muted'>{escape(empty)}</p></section>"
    rows = [
        [f"<code>{escape(key)}</code>", f"{n:,}", _pct(n, total)]
        for key, n in list(counts.items())[:30]
    ]
    table = _table(["code:field", "records", "share"], rows, {1, 2})
    return f"<section><h2>{escape(title)}</h2>{table}</section>"


def _summary(report: Mapping[str, Any]) -> str:
    total = int(report.get("total", 0))
    outcomes = report.get("outcomes", {})
    tiles = [f"<div class='tile'>records<b>{total:,}</b></div>"]
    for status in _OUTCOMES:
        n = int(outcomes.get(status, 0))
        tiles.append(
            f"<div class='tile {status}'>{status}<b>{n:,}</b>{_pct(n, total)}"
            f"<br>{bar(n / total if total else 0.0, width=110)}</div>"
        )
    return f"<section><h2>Outcomes</h2><div class='tiles'>{''.join(tiles)}</div></section>"


def _quality(report: Mapping[str, Any]) -> str:
    quality = report.get("quality")
    if not quality or quality.get("composite") is None:
        return ""
    rows = [["<b>composite</b>", f"{quality['composite']:.3f}", bar(quality["composite"])]]
    for name, score in (quality.get("dimensions") or {}).items():
        if score is not None:
            rows.append([escape(name), f"{score:.3f}", bar(score)])
    return f"<section><h2>Quality</h2>{_table(['dimension', 'score', ''], rows, {1})}</section>"


def _findings(findings: Sequence[Mapping[str, Any]], curves: Mapping[str, list[Point]]) -> str:
    drift = [f for f in findings if f.get("kind") != "anomaly"]
    anomalies = len(findings) - len(drift)
    rows = []
    for f in drift[:50]:
        position = (f.get("position") or {}).get("offset")
        rows.append(
            [
                escape(str(f.get("kind"))),
                escape(str(f.get("field") or "-")),
                escape(str(f.get("severity", ""))),
                f"{f.get('statistic', 0):.3g} / {f.get('threshold', 0):.3g}",
                "-" if position is None else f"{position:,}",
                escape(str(f.get("summary", ""))),
            ]
        )
    table = (
        _table(
            ["kind", "field", "severity", "statistic / threshold", "record", "summary"], rows, {4}
        )
        if rows
        else "<p class='muted'>No drift or quality findings.</p>"
    )
    if anomalies:
        table += f"<p>{anomalies:,} records scored above the anomaly threshold.</p>"
    charts: list[str] = []
    quiet: list[str] = []
    for name, points in curves.items():
        if not points:
            continue
        field, _, detector = name.partition(" · ")
        markers = [
            float(f["position"]["offset"])
            for f in drift
            if f.get("field") == field
            and (f.get("position") or {}).get("offset") is not None
            and detector_of(f) == detector
        ]
        chart = line_chart(
            [
                Series("statistic", [(p[0], p[1]) for p in points], colour="#2563eb"),
                Series("threshold", [(p[0], p[2]) for p in points], "#dc2626", dashed=True),
            ],
            markers=markers,
            title=name,
            width=520,
            height=170,
            time_axis=False,
        )
        # A detector whose statistic never came near its threshold goes under "quiet".
        near = any(p[1] >= 0.5 * p[2] for p in points)
        (charts if markers or near else quiet).append(chart)
    legend = (
        "<p class='muted'>Blue: the detector's statistic over record position; red dashes: "
        "its threshold; orange: where a finding fired.</p>"
        if charts or quiet
        else ""
    )
    if quiet:
        legend += (
            f"<div class='charts'>{''.join(charts)}</div><details><summary>{len(quiet)} quiet "
            "detectors (statistic stayed under half its threshold)</summary>"
        )
        charts, quiet_html = quiet, "</details>"
    else:
        quiet_html = ""
    return (
        f"<section><h2>Findings</h2>{table}{legend}<div class='charts'>{''.join(charts)}</div>"
        f"{quiet_html}</section>"
    )


def _inventory(inventory: Mapping[str, Any] | None) -> str:
    if not inventory:
        return ""
    rows = []
    for f in inventory.get("fields", [])[:200]:
        types = ", ".join(f"{k} {v:.0%}" for k, v in (f.get("types") or {}).items())
        tags = "".join(f"<span class='tag'>{escape(t['tag'])}</span>" for t in f.get("tags", []))
        pii = "".join(
            f"<span class='tag pii'>{escape(k)} {v:.1%}</span>"
            for k, v in (f.get("pii") or {}).items()
        )
        top = ", ".join(escape(str(v.get("value")))[:40] for v in (f.get("top_values") or [])[:3])
        rows.append(
            [
                f"<code>{escape(f['path'])}</code>",
                f"{f.get('presence', 0):.1%}",
                escape(types),
                f"{f.get('distinct_estimate', 0):,}",
                tags + pii,
                top,
            ]
        )
    table = _table(
        ["field", "presence", "types", "distinct", "tags / PII", "top values"], rows, {1, 3}
    )
    return f"<section><h2>Inventory</h2>{table}</section>"


def _examples(examples: Sequence[Mapping[str, Any]]) -> str:
    if not examples:
        return ""
    rows = []
    for example in examples:
        reasons = "<br>".join(
            f"<code>{escape(str(r.get('code')))}</code> {escape(str(r.get('field') or ''))}: "
            f"{escape(str(r.get('message', '')))}"
            for r in example.get("reasons") or []
            if isinstance(r, dict)
        )
        source = example.get("source") or {}
        where = escape(f"{source.get('topic')}:{source.get('partition')}@{source.get('offset')}")
        rows.append([where, reasons, f"<pre>{escape(str(example.get('raw', '')))}</pre>"])
    return (
        "<section><h2>Quarantined records (examples, personal data masked)</h2>"
        f"{_table(['source', 'reasons', 'raw value'], rows, set())}</section>"
    )


def render_check_report(
    report: Mapping[str, Any],
    *,
    source_name: str,
    findings: Sequence[Mapping[str, Any]] = (),
    curves: Mapping[str, list[Point]] | None = None,
    examples: Sequence[Mapping[str, Any]] = (),
    inventory: Mapping[str, Any] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The report page: outcomes, reasons, corrections, quality, findings with plots of each
    detector's statistic over record position, the inventory and quarantined examples."""
    total = int(report.get("total", 0))
    moment = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        _summary(report),
        _counts("Quarantine reasons", report.get("reasons_by_field") or {}, total, "None."),
        _counts("Corrections", report.get("corrections_by_field") or {}, total, "None."),
        _quality(report),
        _findings(findings, curves or {}),
        _inventory(inventory),
        _examples(examples),
    ]
    raw = escape(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    title = f"StreamGuard check: {source_name}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(str(report.get('stream', '')))} stream · "
        f"{total:,} records · generated {moment}</p></header><main>{''.join(body)}"
        f"<section><h2>report.json</h2><details><summary>show</summary><pre>{raw}</pre>"
        "</details></section></main></body></html>"
    )
