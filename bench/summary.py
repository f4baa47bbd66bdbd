"""Print one table of every benchmark's headline figures (the last step of ``make bench``).

Run: ``.venv/bin/python bench/summary.py [NAME ...]`` (default: every result file).
Reads ``bench/results/*.json``; a result without a ``headline`` list is shown by name
and date only. Exit status 0: this reports, it does not judge.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from common import RESULTS, print_table


def rows(documents: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """Table rows: one per headline figure, or one per result without a headline.

    >>> doc = {"benchmark": "core", "date": "2026-11-23T12:00:00+00:00", "git": "abc",
    ...        "headline": [{"metric": "events/s", "value": 60000.0, "unit": "events/s",
    ...                      "baseline": 900000.0, "ratio": 0.0667, "met": False}]}
    >>> rows([doc, {"benchmark": "engine", "date": "2026-11-23T12:01:00+00:00"}])
    [('core', 'events/s', 60000.0, 'events/s', 900000.0, 0.0667, False, '2026-11-23 12:00'), \
('engine', '-', None, '', None, None, None, '2026-11-23 12:01')]
    """
    table: list[tuple[object, ...]] = []
    for doc in documents:
        name = str(doc.get("benchmark", "?"))
        date = str(doc.get("date", ""))[:16].replace("T", " ")
        figures = doc.get("headline") or []
        if not figures:
            table.append((name, "-", None, "", None, None, None, date))
        for figure in figures:
            table.append(
                (
                    name,
                    figure.get("metric"),
                    figure.get("value"),
                    figure.get("unit", ""),
                    figure.get("baseline"),
                    figure.get("ratio"),
                    figure.get("met"),
                    date,
                )
            )
    return table


def main(argv: list[str] | None = None) -> int:
    """Print the summary table of the selected (default: all) results."""
    names = list(sys.argv[1:] if argv is None else argv)
    paths = sorted(RESULTS.glob("*.json"))
    if names:
        paths = [p for p in paths if p.stem in names]
    documents = []
    for path in paths:
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"skipping {path}: {exc}", file=sys.stderr)
    if not documents:
        print(f"no results in {RESULTS}")
        return 0
    print_table(
        rows(documents),
        ("bench", "figure", "value", "unit", "baseline", "ratio", "target met", "date (UTC)"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
