"""Fault kinds, the records the sources yield, and fault mixes (no randomness here).

:mod:`streamguard.sources.faults` re-exports everything public from this module.

Examples
--------
>>> FAULTS["price_as_string"].expected, FAULTS["price_as_string"].code
('corrected', 'numeric_string')
>>> sorted(set(BEHAVIOR_FAULTS) ^ set(PRODUCT_FAULTS))[:3]
['duplicate_event', 'event_type_variant', 'invalid_utf8']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "BEHAVIOR_FAULTS",
    "DEFAULT_TOO_LARGE_BYTES",
    "DUPLICATE_WINDOW",
    "FAULTS",
    "PRODUCT_FAULTS",
    "STREAMS",
    "Expected",
    "FaultMix",
    "FaultSpec",
    "GeneratedRecord",
    "Stream",
]

Stream: TypeAlias = Literal["behavior", "product"]
Expected: TypeAlias = Literal["valid", "corrected", "quarantine"]
STREAMS: tuple[Stream, ...] = ("behavior", "product")

#: Default size of a ``too_large`` value: 1 MiB + 1 KiB (above the default 1 MiB limit).
DEFAULT_TOO_LARGE_BYTES = 1_048_576 + 1024
#: How many recent valid records a ``duplicate_event`` may re-send from.
DUPLICATE_WINDOW = 50


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One message to produce, with the outcome the pipeline is expected to reach.

    Examples
    --------
    >>> r = GeneratedRecord("behavior", b"u1", b'{"a":1}', None, "valid", None)
    >>> r.label()["expected"]
    'valid'
    """

    stream: Stream
    key: bytes
    value: bytes
    fault: str | None
    expected: Expected
    expected_code: str | None

    def label(self) -> dict[str, Any]:
        """A JSON-able description of the record (for ``--labels`` files)."""
        return {
            "stream": self.stream,
            "key": self.key.decode("utf-8", "backslashreplace"),
            "fault": self.fault,
            "expected": self.expected,
            "expected_code": self.expected_code,
        }


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What a fault kind does to the pipeline: the outcome and the rule / reason code."""

    name: str
    expected: Expected
    code: str
    streams: tuple[Stream, ...]


def _spec(name: str, expected: Expected, code: str, *streams: Stream) -> FaultSpec:
    return FaultSpec(name, expected, code, streams)


_B: Stream = "behavior"
_P: Stream = "product"
#: Every fault kind, by name.
FAULTS: dict[str, FaultSpec] = {
    s.name: s
    for s in (
        _spec("price_as_string", "corrected", "numeric_string", _B, _P),
        _spec("quantity_as_string", "corrected", "numeric_string", _B),
        _spec("currency_case", "corrected", "currency_normalize", _B, _P),
        _spec("event_type_variant", "corrected", "enum_normalize", _B),
        _spec("platform_variant", "corrected", "enum_normalize", _B),
        _spec("ts_epoch_seconds", "corrected", "ts_epoch_seconds", _B),
        _spec("ts_naive_iso", "corrected", "ts_assume_utc", _B),
        _spec("negative_price", "quarantine", "out_of_range", _B, _P),
        _spec("zero_quantity", "quarantine", "out_of_range", _B),
        _spec("negative_stock", "quarantine", "out_of_range", _P),
        _spec("unknown_event_type", "quarantine", "unknown_enum", _B),
        _spec("unknown_op", "quarantine", "unknown_enum", _P),
        _spec("missing_event_id", "quarantine", "missing_field", _B),
        _spec("missing_user_id", "quarantine", "missing_field", _B),
        _spec("missing_ts", "quarantine", "missing_field", _B),
        _spec("missing_product_id", "quarantine", "missing_field", _B, _P),
        _spec("duplicate_event", "quarantine", "duplicate", _B),
        _spec("not_json", "quarantine", "decode_error", _B, _P),
        _spec("invalid_utf8", "quarantine", "decode_error", _B),
        _spec("not_an_object", "quarantine", "not_an_object", _B),
        _spec("wrong_type", "quarantine", "invalid_type", _B),
        _spec("too_large", "quarantine", "too_large", _B, _P),
    )
}
BEHAVIOR_FAULTS: tuple[str, ...] = tuple(n for n, s in FAULTS.items() if _B in s.streams)
PRODUCT_FAULTS: tuple[str, ...] = tuple(n for n, s in FAULTS.items() if _P in s.streams)


def _streams_of(stream: str) -> tuple[Stream, ...]:
    if stream == "both":
        return STREAMS
    if stream == "behavior":
        return ("behavior",)
    if stream == "product":
        return ("product",)
    raise ValueError(f"unknown stream {stream!r}; expected behavior, product or both")


@dataclass(frozen=True)
class FaultMix:
    """Per-record fault probabilities, per stream (fault name -> probability).

    Examples
    --------
    >>> FaultMix.parse("price_as_string=0.02,negative_price=0.01", "both").rates("product")
    {'price_as_string': 0.02, 'negative_price': 0.01}
    >>> mix = FaultMix.uniform(0.1, "behavior")
    >>> round(mix.total("behavior"), 6), "too_large" in mix.rates("behavior")
    (0.1, False)
    >>> FaultMix.parse("teleport=0.1", "behavior")
    Traceback (most recent call last):
    ...
    ValueError: unknown fault 'teleport' for stream behavior; valid: price_as_string, ...
    """

    behavior: Mapping[str, float] = field(default_factory=dict)
    product: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for stream in STREAMS:
            rates = self.rates(stream)
            for name, p in rates.items():
                spec = FAULTS.get(name)
                if spec is None or stream not in spec.streams:
                    valid = ", ".join(n for n, s in FAULTS.items() if stream in s.streams)
                    raise ValueError(f"unknown fault {name!r} for stream {stream}; valid: {valid}")
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"probability of {name} must be in [0, 1], got {p}")
            if sum(rates.values()) > 1.0 + 1e-9:
                raise ValueError(f"fault probabilities for {stream} add up to more than 1")

    def rates(self, stream: Stream) -> dict[str, float]:
        """The fault probabilities for one stream (a copy)."""
        return dict(self.behavior if stream == "behavior" else self.product)

    def total(self, stream: Stream) -> float:
        """Probability that a record of ``stream`` gets a fault."""
        return sum(self.rates(stream).values())

    def updated(self, other: FaultMix) -> FaultMix:
        """This mix with every probability set in ``other`` overriding ours."""
        return FaultMix(
            behavior={**self.behavior, **other.behavior},
            product={**self.product, **other.product},
        )

    @classmethod
    def none(cls) -> FaultMix:
        """No faults at all."""
        return cls()

    @classmethod
    def uniform(
        cls,
        total_rate: float,
        stream: str,
        *,
        include_too_large: bool = False,
        exclude: Iterable[str] = (),
    ) -> FaultMix:
        """Spread ``total_rate`` evenly over the fault kinds of ``stream`` (or ``both``).

        ``too_large`` (1 MiB each) is left out unless ``include_too_large``; names in
        ``exclude`` are left out too (faults a dataset cannot carry).
        """
        if not 0.0 <= total_rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {total_rate}")
        skip = set(exclude) | (set() if include_too_large else {"too_large"})
        per_stream: dict[Stream, dict[str, float]] = {"behavior": {}, "product": {}}
        for s in _streams_of(stream):
            names = [n for n, spec in FAULTS.items() if s in spec.streams and n not in skip]
            if names and total_rate > 0:
                per_stream[s] = {n: total_rate / len(names) for n in names}
        return cls(behavior=per_stream["behavior"], product=per_stream["product"])

    @classmethod
    def parse(cls, text: str, stream: str) -> FaultMix:
        """Parse ``name=p,name=p`` (a name may be prefixed ``behavior.`` or ``product.``).

        An unprefixed name applies to every selected stream that has that fault kind.
        """
        streams = _streams_of(stream)
        per_stream: dict[Stream, dict[str, float]] = {"behavior": {}, "product": {}}
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"fault mix item {item!r} is not name=probability")
            try:
                p = float(value)
            except ValueError:
                raise ValueError(f"probability of {name!r} is not a number: {value!r}") from None
            prefix, dot, bare = name.partition(".")
            targets = (prefix,) if dot and prefix in STREAMS else streams
            fault = bare if dot and prefix in STREAMS else name
            hits = [s for s in targets if s in streams and fault in FAULTS]
            hits = [s for s in hits if s in FAULTS[fault].streams]
            if not hits:
                valid = ", ".join(n for n, s in FAULTS.items() if set(s.streams) & set(streams))
                label = "/".join(streams)
                raise ValueError(f"unknown fault {name!r} for stream {label}; valid: {valid}")
            for s in hits:
                per_stream[s][fault] = p
        return cls(behavior=per_stream["behavior"], product=per_stream["product"])
