"""Versioned, checksummed pickle files for the worker's own state (detector snapshots).

A state file is::

    MAGIC | format version (u16) | header length (u32) | header (JSON) | SHA-256 | body

The SHA-256 covers header and body. The body is a pickle (protocol 5) followed by its
out-of-band buffers (the numpy arrays, copied once while pickling rather than streamed
through the pickle), whose sizes the header lists. The header also names what the state
is and what it was built for (compared with ``expected`` when read: detector, stream,
the settings and constructor values that shape the objects), and holds a digest of the
source of every ``streamguard`` module the saving process had loaded. An object pickled
by one version of a class and unpickled into another (an attribute added, renamed,
reshaped) would fail later, on a record; so a state whose classes come from a module
that changed since is set aside instead (:class:`StateMismatch`, reason ``code``).

Trust boundary: unpickling runs code that the file names, so a state file must be the
worker's own: written by this module (mode 0600, atomically) into the worker's data
directory, never taken from elsewhere. The checksum detects a torn or corrupt file, not
tampering; the allow-list of classes (:data:`ALLOWED_MODULES`) keeps a wrong file from
reaching arbitrary code, but it is a guard rail, not a sandbox.

Objects that belong to the running process (a clock, a catalogue backed by a Faust
table) are not pickled: ``externals`` names them (by identity) when dumping, and the
reader passes the live objects under the same names. An external must be a function or
a class instance; plain dicts, lists and atoms are pickled by value (pickle does not
let anyone intercept them), so :func:`dump` refuses them as externals.

Examples
--------
>>> import time
>>> state = {"counts": [1, 2, 3], "clock": time.time}
>>> pickled = dump(state, externals={"clock": time.time})
>>> data = b"".join(seal(pickled, {"kind": "demo"}))
>>> got, header = load(data, expected={"kind": "demo"}, externals={"clock": time.monotonic})
>>> got["counts"], got["clock"] is time.monotonic, header["kind"]
([1, 2, 3], True, 'demo')
>>> load(data, expected={"kind": "other"}, externals={})
Traceback (most recent call last):
...
streamguard.runtime.state_store.StateMismatch: config: kind was 'demo', now 'other'
>>> load(data[:-1] + b"?", expected={"kind": "demo"}, externals={})
Traceback (most recent call last):
...
streamguard.runtime.state_store.StateMismatch: corrupt: checksum does not match
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from streamguard.runtime.files import write_atomic

__all__ = [
    "ALLOWED_MODULES",
    "FORMAT_VERSION",
    "MAGIC",
    "Pickled",
    "StateMismatch",
    "code_digests",
    "dump",
    "load",
    "seal",
    "write_atomic",
]

MAGIC: Final = b"SGSTATE\n"
#: Bump when the file layout (not the pickled classes) changes.
FORMAT_VERSION: Final = 1
_PREFIX = struct.Struct(">HI")
_DIGEST = 32
#: Packages whose classes a state file may name (with the single names below).
ALLOWED_MODULES: Final = ("streamguard", "numpy", "river")
_ALLOWED_NAMES: Final = frozenset(
    {
        ("builtins", "frozenset"),
        ("builtins", "getattr"),
        ("builtins", "object"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("copyreg", "_reconstructor"),
        ("operator", "itemgetter"),
        ("random", "Random"),
    }
)
_BY_VALUE = (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float, bool)

Reason = Literal["corrupt", "version", "config", "code", "unreadable"]


class StateMismatch(Exception):
    """A state file that cannot be used; ``reason`` is one of a fixed set (a label)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Pickled:
    """A dumped pickle and its out-of-band buffers (copies, taken while dumping)."""

    payload: bytes
    buffers: tuple[bytes, ...] = ()

    @property
    def size(self) -> int:
        """Bytes of pickle and buffers."""
        return len(self.payload) + sum(len(b) for b in self.buffers)


def _external(name: str) -> object:
    """Stands for a live object in a pickle; :class:`_Unpickler` swaps it for a lookup."""
    raise pickle.UnpicklingError(f"no live object for {name!r}")


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, externals: Mapping[str, object]) -> None:
        self.buffers: list[bytes] = []
        super().__init__(file, protocol=5, buffer_callback=self._take)
        self._externals = {id(obj): name for name, obj in externals.items()}

    def _take(self, buffer: pickle.PickleBuffer) -> None:
        self.buffers.append(bytes(buffer.raw()))  # a copy: the array may change next

    def reducer_override(self, obj: Any) -> Any:
        # Called for class instances and functions, not for atoms and plain containers:
        # cheaper than persistent_id, which runs for every object (measured).
        name = self._externals.get(id(obj))
        return NotImplemented if name is None else (_external, (name,))


class _Unpickler(pickle.Unpickler):
    def __init__(
        self, file: io.BytesIO, externals: Mapping[str, object], buffers: list[bytearray]
    ) -> None:
        super().__init__(file, buffers=buffers)
        self._externals = externals
        #: ``streamguard`` modules the pickle named (their code must not have changed).
        self.modules: set[str] = set()

    def _live(self, name: str) -> object:
        try:
            return self._externals[name]
        except KeyError:
            raise pickle.UnpicklingError(f"no live object for {name!r}") from None

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == (__name__, "_external"):
            return self._live
        top = module.partition(".")[0]
        if top not in ALLOWED_MODULES and (module, name) not in _ALLOWED_NAMES:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state file")
        if top == "streamguard":
            self.modules.add(module)
        return super().find_class(module, name)


def dump(state: object, *, externals: Mapping[str, object] | None = None) -> Pickled:
    """Pickle ``state`` (the one step that must not run while it changes).

    ``externals``: live objects written as their name (found by identity), not pickled;
    ``None`` values are left out.
    """
    live = {name: obj for name, obj in (externals or {}).items() if obj is not None}
    for name, obj in live.items():
        if type(obj) in _BY_VALUE:
            raise TypeError(f"external {name!r} is a {type(obj).__name__}: pickled by value")
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, live)
    pickler.dump(state)
    return Pickled(buffer.getvalue(), tuple(pickler.buffers))


_SOURCE_DIGESTS: dict[str, str] = {}


def _source_digest(module: str) -> str:
    """SHA-256 of a loaded module's file, as first read by this process (see
    :func:`code_digests`); ``?`` for a module not loaded or without a file."""
    digest = _SOURCE_DIGESTS.get(module)
    if digest is None:
        path = getattr(sys.modules.get(module), "__file__", None)
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else "?"
        except OSError:
            digest = "?"
        _SOURCE_DIGESTS[module] = digest
    return digest


def code_digests(modules: Iterable[str] | None = None) -> dict[str, str]:
    """The source digest of each module (default: every ``streamguard`` module loaded).

    Digests are cached on first use: call it at start-up, so that a file edited while
    the process runs is not taken for the code that runs.
    """
    if modules is None:
        modules = [m for m in list(sys.modules) if m.startswith("streamguard.")]
    return {module: _source_digest(module) for module in sorted(modules)}


def seal(pickled: Pickled, header: Mapping[str, Any]) -> list[bytes]:
    """The file's bytes, in chunks (nothing copied): prefix, header, checksum, pickle,
    buffers. ``header`` must be JSON; ``code``, ``sizes`` and ``saved_at`` are added."""
    body = [pickled.payload, *pickled.buffers]
    full = {
        **header,
        "code": code_digests(),
        "sizes": [len(part) for part in body],
        "saved_at": time.time(),
    }
    head = json.dumps(full, sort_keys=True).encode()
    digest = hashlib.sha256(head)
    for part in body:
        digest.update(part)
    prefix = MAGIC + _PREFIX.pack(FORMAT_VERSION, len(head))
    return [prefix, head, digest.digest(), *body]


def _differences(saved: Mapping[str, Any], expected: Mapping[str, Any], at: str = "") -> list[str]:
    """What differs, by dotted key (``config.window was 2, now 3``)."""
    found = []
    for key, value in expected.items():
        old = saved.get(key)
        if old == value:
            continue
        if isinstance(old, dict) and isinstance(value, dict):
            found += _differences(old, {k: value.get(k) for k in old.keys() | value}, f"{at}{key}.")
        else:
            found.append(f"{at}{key} was {old!r}, now {value!r}")
    return sorted(found)


def _parse(data: bytes) -> tuple[dict[str, Any], list[memoryview]]:
    """Header and body parts of a state file, checked for format and checksum."""
    start = len(MAGIC) + _PREFIX.size
    if len(data) < start + _DIGEST or not data.startswith(MAGIC):
        raise StateMismatch("corrupt", "not a StreamGuard state file")
    version, head_len = _PREFIX.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise StateMismatch("version", f"format {version}, this build reads {FORMAT_VERSION}")
    head = data[start : start + head_len]
    stored = data[start + head_len : start + head_len + _DIGEST]
    body = memoryview(data)[start + head_len + _DIGEST :]
    digest = hashlib.sha256(head)
    digest.update(body)
    if len(head) != head_len or digest.digest() != stored:
        raise StateMismatch("corrupt", "checksum does not match")
    try:
        header = json.loads(head)
        sizes = [int(size) for size in header["sizes"]]
        code = header["code"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StateMismatch("corrupt", f"header: {exc!r}") from None
    if not sizes or min(sizes) < 0 or sum(sizes) != len(body) or not isinstance(code, dict):
        raise StateMismatch("corrupt", "header does not describe the body")
    parts, at = [], 0
    for size in sizes:
        parts.append(body[at : at + size])
        at += size
    return header, parts


def load(
    data: bytes,
    *,
    expected: Mapping[str, Any],
    externals: Mapping[str, object],
    modules: Iterable[str] = (),
) -> tuple[Any, dict[str, Any]]:
    """The state in ``data`` and its header.

    Checked in order: format, checksum, the header values in ``expected`` (JSON-equal),
    then the pickle is read and the code of every ``streamguard`` module it names (and
    of ``modules``) compared with the saving process's. Raises :class:`StateMismatch` on
    the first failure, never anything else.
    """
    header, parts = _parse(data)
    # Compare as JSON would store them (tuples become lists).
    differences = _differences(header, json.loads(json.dumps(dict(expected))))
    if differences:
        raise StateMismatch("config", "; ".join(differences))
    # Writable buffers: the arrays restored on them change in place.
    unpickler = _Unpickler(io.BytesIO(parts[0]), externals, [bytearray(p) for p in parts[1:]])
    failure: Exception | None = None
    try:
        state = unpickler.load()
    except Exception as exc:  # a foreign or stale pickle is a mismatch, never a crash
        failure = exc
    saved_code: dict[str, Any] = header["code"]
    changed = sorted(
        module
        for module in unpickler.modules | set(modules)
        if saved_code.get(module) != _source_digest(module)
    )
    if changed:
        raise StateMismatch("code", "changed since the snapshot: " + ", ".join(changed))
    if failure is not None:
        raise StateMismatch("unreadable", f"{type(failure).__name__}: {failure}")
    return state, header
