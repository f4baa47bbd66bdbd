"""The few example records a quality finding carries, kept per (dimension, field).

Keeping one runs for every bad record, so it is a cheap tuple; the dict a finding holds
is built only when a finding is reported.

Examples
--------
>>> from streamguard.events.records import SourcePosition
>>> book = ExampleBook(keep=2)
>>> for offset in range(3):
...     book.add("validity", None, SourcePosition("t", 0, offset), {"event_id": f"e{offset}"},
...              "missing_field:user_id")
>>> [e["event_id"] for e in book.render("validity", None)]
['e1', 'e2']
>>> book.render("timeliness", None)
[]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from streamguard.events.records import SourcePosition

__all__ = ["ExampleBook"]

# (event_id, source, detail, value): cheap to keep, rendered only into a finding.
_Example = tuple[Any, SourcePosition, str, Any]


class ExampleBook:
    """The last ``keep`` examples of each (dimension, field)."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = keep
        self._book: dict[tuple[str, str | None], deque[_Example]] = {}

    def add(
        self,
        dimension: str,
        field: str | None,
        source: SourcePosition,
        record: Mapping[str, Any] | None,
        detail: str,
        value: Any = None,
    ) -> None:
        # Runs for every bad record: keep a cheap tuple, build the dict only in a finding.
        examples = self._book.get((dimension, field))
        if examples is None:
            examples = self._book[dimension, field] = deque(maxlen=self.keep)
        event_id = record.get("event_id") if record is not None else None
        examples.append((event_id, source, detail, value))

    def render(self, dimension: str, field: str | None) -> list[dict[str, Any]]:
        rendered = []
        for event_id, source, detail, value in self._book.get((dimension, field), ()):
            if isinstance(value, tuple):
                value = ", ".join(value)
            text = detail if value is None else f"{detail} {value}"
            rendered.append(
                {
                    "event_id": event_id if isinstance(event_id, str) else None,
                    "position": source.as_dict(),
                    "detail": text[:200],
                }
            )
        return rendered
