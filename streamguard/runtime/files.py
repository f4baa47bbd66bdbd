"""Files the worker and its helper processes write for themselves: replaced atomically.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "state" / "x.bin"
>>> write_atomic(path, [b"ab", b"c"]), path.read_bytes(), oct(path.stat().st_mode & 0o777)
(3, b'abc', '0o600')
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, chunks: Sequence[bytes]) -> int:
    """Replace ``path`` with ``chunks`` atomically (temp file, fsync, rename, fsync of
    the directory), readable by its owner only; returns the size. Blocking: run it off
    the event loop."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp makes it 0600
            for chunk in chunks:
                size += fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:  # the rename itself survives a power cut
        os.fsync(directory)
    finally:
        os.close(directory)
    return size
