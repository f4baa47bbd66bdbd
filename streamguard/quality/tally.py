"""Run-level accounting: outcome, reason and correction counts, and field completeness.

Pure and incremental (``add(outcome)``), shared by ``streamguard check``'s report and the
demo's live summary.

Examples
--------
>>> from streamguard.pipeline import RecordPipeline
>>> from streamguard.events.records import SourcePosition
>>> pipeline, tally = RecordPipeline("product"), RunTally("product")
>>> for i, raw in enumerate([b'{"event_id": "1", "product_id": "p", "op": "upsert",'
...                          b' "ts": 1800000000000, "attributes": {"weight_g": 0}}',
...                          b'not json']):
...     tally.add(pipeline.process(raw, SourcePosition("file:x", 0, i)))
>>> tally.outcomes, dict(tally.reasons)
({'valid': 1, 'corrected': 0, 'quarantine': 1}, {'decode_error': 1})
>>> tally.report()["gaps"]["missing"]["category"], tally.report()["gaps"]["zero"]
(1, {'attributes.weight_g': 1})
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from streamguard.events.records import Outcome

__all__ = ["GAP_FIELDS", "RunTally"]

# Optional fields whose absence is a gap. Behaviour events omit price/query by design
# (views have no price), so only the context fields count there.
GAP_FIELDS = {
    "behavior": ("session_id", "platform", "schema_version"),
    "product": (
        "title",
        "description",
        "category",
        "brand",
        "price",
        "currency",
        "stock",
        "attributes",
        "schema_version",
    ),
}
#: Attribute keys tracked per run at most (bounded memory on hostile input).
MAX_ATTRIBUTE_KEYS = 200


class RunTally:
    """Counts over one run of the pipeline: what came out, why, and what was missing."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.outcomes: dict[str, int] = {"valid": 0, "corrected": 0, "quarantine": 0}
        self.reasons: Counter[str] = Counter()
        self.reason_fields: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.rule_fields: Counter[str] = Counter()
        self.missing: Counter[str] = Counter()
        self.zero: Counter[str] = Counter()
        self.attribute_present: Counter[str] = Counter()
        self.with_attributes = 0
        self.checked_for_gaps = 0
        self._gap_fields: tuple[str, ...] = tuple(GAP_FIELDS.get(stream, ()))

    @property
    def total(self) -> int:
        """Records seen."""
        return sum(self.outcomes.values())

    def add(self, outcome: Outcome) -> None:
        """Account for one outcome."""
        self.outcomes[outcome.status] += 1
        if outcome.reasons:
            for reason in outcome.reasons:
                self.reasons[reason.code] += 1
                self.reason_fields[f"{reason.code}:{reason.field or '-'}"] += 1
        if outcome.corrections:
            for correction in outcome.corrections:
                self.rules[correction.rule] += 1
                self.rule_fields[f"{correction.rule}:{correction.field}"] += 1
        record = outcome.record
        if record is not None:
            # self._gaps(record), inline: per clean record
            get = record.get
            if get("op") == "delete":
                return  # a delete carries only the id: nothing is missing
            self.checked_for_gaps += 1
            for name in self._gap_fields:
                if get(name) is None:
                    self.missing[name] += 1
            attributes = get("attributes")
            if attributes is not None:
                self._attributes(attributes)

    def _attributes(self, attributes: Any) -> None:
        if isinstance(attributes, dict):
            self.with_attributes += 1
            for key, value in attributes.items():
                if (
                    key in self.attribute_present
                    or len(self.attribute_present) < MAX_ATTRIBUTE_KEYS
                ):
                    self.attribute_present[key] += 1
                    if value is not None and not isinstance(value, bool) and value == 0:
                        self.zero[f"attributes.{key}"] += 1

    def report(self) -> dict[str, Any]:
        """A JSON-able report of the run."""
        missing = dict(self.missing)
        for key, present in self.attribute_present.items():
            absent = self.with_attributes - present
            if absent:
                missing[f"attributes.{key}"] = absent
        return {
            "stream": self.stream,
            "total": self.total,
            "outcomes": dict(self.outcomes),
            "reasons": dict(self.reasons.most_common()),
            "reasons_by_field": dict(self.reason_fields.most_common()),
            "corrections": dict(self.rules.most_common()),
            "corrections_by_field": dict(self.rule_fields.most_common()),
            "gaps": {
                "records_checked": self.checked_for_gaps,
                "missing": dict(sorted(missing.items(), key=lambda kv: -kv[1])),
                "zero": dict(self.zero.most_common()),
            },
        }
