"""What a run over a file needs: its lines, a product catalogue from a product file, and
the file's own clock. Shared by ``check`` and ``replay-quarantine``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from streamguard.contracts.contract import StreamContract
from streamguard.events.records import Outcome, SourcePosition
from streamguard.events.ts_text import CanonicalTs
from streamguard.pipeline import RecordPipeline

__all__ = [
    "InMemoryCatalogue",
    "StreamClock",
    "iter_line_blocks",
    "iter_lines",
    "load_catalogue",
    "write_lines",
]

#: Bytes read at a time by :func:`iter_line_blocks`.
BLOCK_BYTES = 1 << 20


class InMemoryCatalogue:
    """Latest clean product per product_id, built from a product file."""

    def __init__(self) -> None:
        self._products: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._products)

    def get(self, product_id: str) -> Mapping[str, Any] | None:
        """The latest clean product record, or None."""
        return self._products.get(product_id)

    def apply(self, record: dict[str, Any]) -> None:
        """Upsert or delete from a clean product record."""
        if record.get("op") == "delete":
            self._products.pop(record["product_id"], None)
        else:
            self._products[record["product_id"]] = record


class StreamClock:
    """ "Now" for a file: the newest event time seen so far (wall time before the first).

    Timeliness of a historical file is judged against the file's own time, not today's:
    an event is late when it is older than the newest one by more than the allowance.
    Runs as a pipeline observer placed before the quality scorer.

    >>> clock = StreamClock()
    >>> clock.on_clean({"ts": "2026-01-01T00:00:10.000Z"}, None)  # type: ignore[arg-type]
    >>> clock.on_clean({"ts": "2026-01-01T00:00:05.000Z"}, None)  # type: ignore[arg-type]
    >>> clock() == datetime.fromisoformat("2026-01-01T00:00:10+00:00").timestamp()
    True
    """

    def __init__(self) -> None:
        self._latest: float | None = None
        self._parse = CanonicalTs()

    def __call__(self) -> float:
        return time.time() if self._latest is None else self._latest

    def on_decoded(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Not needed: clean records carry a normalised ``ts``."""

    def on_clean(self, record: dict[str, Any], source: SourcePosition) -> None:
        """Advance to this record's event time if it is the newest."""
        ts = record.get("ts")
        if not isinstance(ts, str):
            return  # a contract's stream without a normalised ts
        moment = self._parse.seconds(ts)  # the pipeline's own format: second cached
        if moment is None:
            moment = datetime.fromisoformat(ts).timestamp()
        if self._latest is None or moment > self._latest:
            self._latest = moment

    def on_outcome(self, outcome: Outcome) -> None:
        """Not needed."""


def iter_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines without their line ending; a final empty line (trailing newline) is no record.

    >>> import io
    >>> list(iter_lines(io.BytesIO(b"a\\r\\nb\\n\\nc\\r")))
    [b'a', b'b', b'', b'c\\r']
    """
    for block in iter_line_blocks(fh):
        yield from block


def iter_line_blocks(fh: IO[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[list[bytes]]:
    """The lines of :func:`iter_lines`, a list at a time (read ``block_bytes`` at a time
    and split in one call: cheaper per line than reading lines one by one).

    A line ends at ``\\n``; a ``\\r`` before it goes too (``\\r\\n`` endings), not one
    at the very end of the file without a ``\\n`` after it (as :func:`iter_lines` always).

    >>> import io
    >>> list(iter_line_blocks(io.BytesIO(b"a\\nbb\\r\\ncc"), block_bytes=4))
    [[b'a'], [b'bb'], [b'cc']]
    """
    parts: list[bytes] = []  # the line not ended yet, in pieces (a long one: many)
    while chunk := fh.read(block_bytes):
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        if parts:
            parts.append(chunk)
            chunk = b"".join(parts)
            parts = []
        lines = chunk.split(b"\n")
        rest = lines.pop()  # no newline after it (yet)
        if rest:
            parts.append(rest)
        if b"\r" in chunk:
            lines = [line[:-1] if line[-1:] == b"\r" else line for line in lines]
        yield lines
    if parts:
        yield [b"".join(parts)]


def write_lines(fh: IO[bytes], lines: list[bytes]) -> None:
    """Write ``lines``, each followed by a newline, in one call; then empty the list.

    >>> import io
    >>> fh, lines = io.BytesIO(), [b"a", b"b"]
    >>> write_lines(fh, lines); write_lines(fh, lines)
    >>> fh.getvalue(), lines
    (b'a\\nb\\n', [])
    """
    if lines:
        lines.append(b"")
        fh.write(b"\n".join(lines))
        lines.clear()


def load_catalogue(
    path: Path, max_record_bytes: int, contract: StreamContract | None = None
) -> InMemoryCatalogue:
    """Run a product JSON-lines file through the product pipeline (under the product
    stream's ``contract``, if any); keep the clean ones."""
    catalogue = InMemoryCatalogue()
    pipeline = RecordPipeline("product", max_record_bytes=max_record_bytes, contract=contract)
    with path.open("rb") as fh:
        for offset, line in enumerate(iter_lines(fh)):
            outcome = pipeline.process(line, SourcePosition(f"file:{path.name}", 0, offset))
            if outcome.record is not None:
                catalogue.apply(outcome.record)
    return catalogue
