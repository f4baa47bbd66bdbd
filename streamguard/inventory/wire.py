"""A :class:`~streamguard.inventory.profile.StreamProfile` as bytes for the inventory topic.

Another worker's profile arrives from Kafka, so it is read as data, never as code: no
pickle. The profile's pickle state (``__getstate__``, where every DataSketches sketch is
already serialised to its own portable binary format) is written as tagged JSON
(bytes and float arrays base64, counters and sets tagged), zlib-compressed. Reading
builds only :class:`StreamProfile` and :class:`FieldProfile` objects (through
``__setstate__``, which deserialises the sketches) and raises ``ValueError`` on anything
it does not recognise, truncated or corrupt sketches included.

Examples
--------
>>> p = StreamProfile("demo")
>>> for i in range(3000):
...     p.learn_one({"n": i, "tag": f"t{i % 7}"})
>>> q = decode_profile(encode_profile(p))
>>> q.records, q.snapshot()["fields"][0]["numeric"]["max"]
(3000, 2999.0)
"""

from __future__ import annotations

import base64
import zlib
from array import array
from collections import Counter
from typing import Any

import orjson

from streamguard.inventory.field import FieldProfile
from streamguard.inventory.profile import StreamProfile

__all__ = ["decode_profile", "encode_profile"]

#: Largest decompressed profile accepted (a capped stream is ~20 MB at most).
MAX_DECODED_BYTES = 64 << 20


def _enc(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, FieldProfile):
        return {"$field": _enc(value.__getstate__())}
    if isinstance(value, Counter):
        return {"$c": {str(k): int(n) for k, n in value.items()}}
    if isinstance(value, array):
        if value.typecode != "d":
            raise TypeError(f"array of {value.typecode!r} is not serialisable")
        return {"$a": base64.b64encode(value.tobytes()).decode()}
    if isinstance(value, frozenset | set):
        return {"$s": sorted(_enc(v) for v in value)}
    if isinstance(value, dict):
        return {"$d": {str(k): _enc(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [_enc(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not serialisable")


def _dec(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("not a tagged value")
    ((tag, inner),) = value.items()
    if tag == "$b":
        return base64.b64decode(inner, validate=True)
    if tag == "$field":
        field = FieldProfile.__new__(FieldProfile)
        field.__setstate__(_dec(inner))
        return field
    if tag == "$c":
        return Counter({str(k): int(n) for k, n in inner.items()})
    if tag == "$a":
        numbers = array("d")
        numbers.frombytes(base64.b64decode(inner, validate=True))
        return numbers
    if tag == "$s":
        return frozenset(_dec(v) for v in inner)
    if tag == "$d":
        return {str(k): _dec(v) for k, v in inner.items()}
    raise ValueError(f"unknown tag {tag!r}")


def encode_profile(profile: StreamProfile) -> bytes:
    """``profile`` as compressed tagged JSON (see the module docs)."""
    return zlib.compress(orjson.dumps(_enc(profile.__getstate__())), 6)


def decode_profile(data: bytes) -> StreamProfile:
    """The profile :func:`encode_profile` wrote; ``ValueError`` on anything else."""
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data, MAX_DECODED_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError("inventory profile too large")
        state = _dec(orjson.loads(raw))
        if not isinstance(state, dict):
            raise ValueError("not a profile")
        profile = StreamProfile.__new__(StreamProfile)
        profile.__setstate__(state)
        # the attributes every reader uses must be there and of the right kind
        if not isinstance(profile.stream, str) or not isinstance(profile.records, int):
            raise ValueError("not a profile")
        fields = profile.__dict__.get("_fields")
        if not isinstance(fields, dict) or not all(
            isinstance(f, FieldProfile) for f in fields.values()
        ):
            raise ValueError("not a profile")
    except ValueError:
        raise
    except Exception as exc:  # zlib.error, orjson errors, sketch deserialisation, keys
        raise ValueError(f"unreadable inventory profile: {exc!r}") from exc
    return profile
