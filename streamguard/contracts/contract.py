"""A loaded contract for one stream: the checks it means, and how to name it in ``_dq``.

A contract file (ODCS v3) may describe several streams, one per ``schema`` object; each
becomes a :class:`StreamContract`. For a shipped stream (``behavior``, ``product``) the
contract replaces the shipped schema's rules; for a new stream it also names the Kafka
topic (the schema object's ``physicalName``) and the key field (``partitioned: true``).

>>> c = StreamContract(stream="orders", contract_id="orders", version="1.0.0", hash="ab" * 32,
...     file="orders.yaml", shipped=False, topic="shop.orders", key_field="order_id",
...     id_field="order_id", time_field=None, json_schema={"type": "object"})
>>> c.stamp()["id"], c.schema_version, c.clean_topic
('orders', 'orders@1.0.0', 'shop.orders.clean')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SHIPPED_STREAMS", "ContractSet", "StreamContract"]

#: The streams StreamGuard ships a schema for: key field, id field, time field.
SHIPPED_STREAMS: dict[str, tuple[str, str, str]] = {
    "behavior": ("user_id", "event_id", "ts"),
    "product": ("product_id", "event_id", "ts"),
}


@dataclass(frozen=True)
class StreamContract:
    """The checks a contract declares for one stream (see module docs).

    ``json_schema`` is what a record must satisfy (the contract's properties, ranges,
    allowed values, patterns, lengths and the quality rules StreamGuard evaluates);
    ``timestamps``: fields parsed as event times (RFC 3339 or epoch millis);
    ``formatted``: strings written in a format (dates, times, ``logicalTypeOptions.format``
    such as ``email`` or ``uuid``), not free text;
    ``unsupported``: quality rules StreamGuard cannot evaluate, one line each;
    ``classifications``: field -> the ODCS ``classification`` (informative);
    ``pii``: field path -> PII action (a property's custom property ``pii``).
    """

    stream: str
    contract_id: str
    version: str
    hash: str
    file: str
    shipped: bool
    topic: str | None
    key_field: str
    id_field: str | None
    time_field: str | None
    json_schema: dict[str, Any]
    fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    formatted: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    classifications: Mapping[str, str] = field(default_factory=dict)
    pii: Mapping[str, str] = field(default_factory=dict)

    def stamp(self) -> dict[str, str]:
        """The ``_dq.contract`` block of a clean record checked under this contract."""
        return {"id": self.contract_id, "version": self.version, "hash": self.hash}

    @property
    def schema_version(self) -> str:
        """``_dq.schema_version``: the shipped schema's for a shipped stream, else
        ``<stream>@<contract version>``."""
        if self.shipped:
            return f"{self.stream}.v1"
        return f"{self.stream}@{self.version}"

    def completeness_fields(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(required, optional) top-level fields, for the completeness dimension (at
        least two names: a lone field is listed twice)."""
        optional = tuple(name for name in self.fields if name not in self.required)
        if len(self.required) + len(optional) < 2:
            return self.required, optional + self.required + optional
        return self.required, optional

    @property
    def clean_topic(self) -> str | None:
        """``<topic>.clean`` for a new stream (a shipped stream keeps its configured one)."""
        return f"{self.topic}.clean" if self.topic is not None else None


class ContractSet(Mapping[str, StreamContract]):
    """Every stream's contract, by stream name (at most one contract per stream).

    >>> empty = ContractSet({})
    >>> len(empty), empty.get("behavior"), list(empty.new_streams())
    (0, None, [])
    """

    def __init__(self, contracts: Mapping[str, StreamContract]) -> None:
        self._contracts = dict(contracts)

    def __getitem__(self, stream: str) -> StreamContract:
        return self._contracts[stream]

    def __iter__(self) -> Iterator[str]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)

    def new_streams(self) -> Iterator[StreamContract]:
        """Contracts of streams StreamGuard does not ship (each with its own topic)."""
        return (c for c in self._contracts.values() if not c.shipped)

    def pii_policies(
        self, configured: Mapping[str, Mapping[str, str]]
    ) -> dict[str, dict[str, str]]:
        """``Settings.pii_policy`` with each contract's PII actions added per stream; a
        path the configuration names keeps the configuration's action.

        >>> contracts = ContractSet({"orders": StreamContract(stream="orders",
        ...     contract_id="c", version="1", hash="h", file="f", shipped=False, topic="t",
        ...     key_field="k", id_field=None, time_field=None, json_schema={},
        ...     pii={"email": "mask", "phone": "mask"})})
        >>> contracts.pii_policies({"orders": {"phone": "quarantine"}})
        {'orders': {'email': 'mask', 'phone': 'quarantine'}}
        """
        merged = {stream: dict(rules) for stream, rules in configured.items()}
        for contract in self._contracts.values():
            if contract.pii:
                merged[contract.stream] = {**contract.pii, **merged.get(contract.stream, {})}
        return merged

    def unsupported(self) -> list[str]:
        """Every quality rule StreamGuard cannot evaluate, as ``stream: rule`` lines."""
        return [f"{c.stream}: {rule}" for c in self._contracts.values() for rule in c.unsupported]
