"""Examples of quarantined records for a report: a few per reason, PII masked, bounded.

>>> import orjson
>>> lines = [orjson.dumps({"source": {"topic": "file:x", "partition": 0, "offset": i},
...     "raw": '{"email": "ana@example.com"}', "encoding": "utf-8",
...     "reasons": [{"code": "invalid_type", "field": "ts", "message": "m"}]}) for i in range(5)]
>>> examples = sample_quarantine(lines, per_reason=2)
>>> len(examples), examples[0]["raw"]
(2, '{"email": "[email]"}')
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from streamguard.inventory.pii import mask

__all__ = ["sample_quarantine", "sample_quarantine_file"]

#: Characters of a raw value shown; the rest is cut with an ellipsis.
MAX_RAW_CHARS = 600


def _reason_key(record: dict[str, Any]) -> str:
    reasons = record.get("reasons") or [{}]
    first = reasons[0] if isinstance(reasons[0], dict) else {}
    return f"{first.get('code', '?')}:{first.get('field') or '-'}"


def sample_quarantine(
    lines: Iterable[bytes], *, per_reason: int = 3, max_examples: int = 40
) -> list[dict[str, Any]]:
    """Up to ``per_reason`` records for each first reason (code and field), in file order.

    Each example is ``{"source", "reasons", "raw", "encoding"}``; ``raw`` is masked
    (emails, phones, cards, IPs and IBANs replaced by ``[kind]``) and clipped. Lines that
    are not quarantine records are skipped.
    """
    taken: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    for line in lines:
        if len(examples) >= max_examples:
            break
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict) or "reasons" not in record:
            continue
        key = _reason_key(record)
        if taken.get(key, 0) >= per_reason:
            continue
        taken[key] = taken.get(key, 0) + 1
        raw = str(record.get("raw", ""))
        if len(raw) > MAX_RAW_CHARS:
            raw = raw[:MAX_RAW_CHARS] + "…"
        examples.append(
            {
                "source": record.get("source"),
                "reasons": record.get("reasons"),
                "raw": mask(raw) if record.get("encoding", "utf-8") == "utf-8" else raw,
                "encoding": record.get("encoding", "utf-8"),
            }
        )
    return examples


def sample_quarantine_file(
    path: Path, *, per_reason: int = 3, max_examples: int = 40, max_lines: int = 200_000
) -> list[dict[str, Any]]:
    """:func:`sample_quarantine` over the first ``max_lines`` lines of a quarantine file."""
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return sample_quarantine(
            islice(fh, max_lines), per_reason=per_reason, max_examples=max_examples
        )
