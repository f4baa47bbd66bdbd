"""The pipeline's ``ts`` text, both ways, with the last second cached.

Consecutive records mostly share their second, so formatting or parsing a whole date
and time per record (~1–2 µs) is waste: :class:`MillisText` formats epoch millis and
:class:`CanonicalTs` parses the canonical text ``YYYY-MM-DDTHH:MM:SS.mmmZ``, each doing
the date and time once per second and only the milliseconds per record. Both give
exactly what the plain computation gives (:func:`~streamguard.events.records.format_ts`,
``datetime.timestamp()``).

Examples
--------
>>> text = MillisText()
>>> text(1_800_000_000_123), text(1_800_000_000_999)
('2027-01-15T08:00:00.123Z', '2027-01-15T08:00:00.999Z')
>>> parse = CanonicalTs()
>>> parse.seconds("2027-01-15T08:00:00.123Z")
1800000000.123
>>> parse.seconds("2027-01-15T08:00:00Z") is None  # not the canonical shape
True
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from streamguard.events.records import format_ts

__all__ = ["MILLIS_Z", "CanonicalTs", "MillisText"]

#: ``f"{n:03d}Z"`` for n in 0..999: the end of a ``ts`` text, looked up, not formatted.
MILLIS_Z: Final = tuple(f"{n:03d}Z" for n in range(1000))
# Epoch millis below 2**32 s: the float ms/1000 is within 0.5 µs of the true instant, so
# datetime.fromtimestamp rounds to the exact millisecond and the parts can be computed.
_FAST_MILLIS_MAX: Final = 2**32 * 1000
_DATE_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", re.ASCII)


class MillisText:
    """``format_ts`` of epoch millis; the date and time text of the last second reused."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, millis: int) -> str:
        """What ``format_ts(datetime.fromtimestamp(millis / 1000, tz=UTC))`` gives."""
        if not 0 <= millis < _FAST_MILLIS_MAX:
            return format_ts(datetime.fromtimestamp(millis / 1000, tz=UTC))
        second, fraction = divmod(millis, 1000)
        if second != self._second:
            self._prefix = format_ts(datetime.fromtimestamp(second, tz=UTC))[:-4]
            self._second = second
        return self._prefix + MILLIS_Z[fraction]


class CanonicalTs:
    """Epoch seconds of canonical ``ts`` texts; the date and time parsed once a second."""

    def __init__(self) -> None:
        self._prefix = ""  # the last canonical text's date and time to the second
        self._second_us = 0  # ... as epoch microseconds

    def seconds(self, ts: str) -> float | None:
        """``datetime.fromisoformat(ts).timestamp()`` when ``ts`` is canonical
        (``YYYY-MM-DDTHH:MM:SS.mmmZ``, a real date), else None.

        The same float: ``timestamp()`` divides whole microseconds since the epoch, and
        so does this.
        """
        millis = ts[20:23]
        if not (
            len(ts) == 24
            and ts[19] == "."
            and ts[23] == "Z"
            and millis.isascii()
            and millis.isdigit()
        ):
            return None
        if not (self._prefix and ts.startswith(self._prefix)):
            if not _DATE_TIME.fullmatch(ts, 0, 19):
                return None
            try:
                second = datetime.fromisoformat(ts[:19] + "+00:00")
            except ValueError:
                return None
            self._prefix, self._second_us = ts[:19], int(second.timestamp()) * 1_000_000
        return (self._second_us + int(millis) * 1000) / 1_000_000
