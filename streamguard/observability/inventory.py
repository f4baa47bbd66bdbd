"""Prometheus metrics of the live inventory (label cardinality bounded).

- ``streamguard_inventory_fields{stream}``: field paths in the stream's published
  (merged) inventory;
- ``streamguard_pii_values_total{stream,field,kind}``: values this worker profiled that
  held that kind of PII (a sample under load; see :mod:`streamguard.inventory.live`).
  The first ``max_fields_per_stream`` field paths of a stream that hold PII get their own
  label, later ones count under ``_other``; kinds outside the detectors' list also go
  to ``_other``. Sum over workers for the cluster's count.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = InventoryMetrics(registry, max_fields_per_stream=1)
>>> m.observe_pii("s", {("email", "email"): 2, ("notes", "phone"): 1})
>>> m.observe_pii("s", {("email", "email"): 5, ("notes", "phone"): 1})
>>> registry.get_sample_value(
...     "streamguard_pii_values_total", {"stream": "s", "field": "email", "kind": "email"})
5.0
>>> registry.get_sample_value(
...     "streamguard_pii_values_total", {"stream": "s", "field": "_other", "kind": "phone"})
1.0
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from streamguard.inventory.pii import PII_KINDS

__all__ = ["InventoryMetrics"]

OTHER = "_other"


class InventoryMetrics:
    """The inventory's metric families in ``registry`` (a fresh one when None)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, max_fields_per_stream: int = 50
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.max_fields_per_stream = max_fields_per_stream
        self.fields = Gauge(
            "streamguard_inventory_fields",
            "Field paths in the stream's published inventory.",
            ["stream"],
            registry=self.registry,
        )
        self.pii_values = Counter(
            "streamguard_pii_values_total",
            "Profiled values holding personal data, by field (capped; rest _other) and kind.",
            ["stream", "field", "kind"],
            registry=self.registry,
        )
        self.publications = Counter(
            "streamguard_inventory_publications_total",
            "Inventory publications by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        self.failures = Counter(
            "streamguard_inventory_failures_total",
            "Batches the live profiler failed on (counted, never fatal), by step.",
            ["step"],
            registry=self.registry,
        )
        self._labelled: dict[str, set[str]] = {}
        self._counted: dict[tuple[str, str, str], int] = {}

    def _field(self, stream: str, path: str) -> str:
        labelled = self._labelled.setdefault(stream, set())
        if path in labelled:
            return path
        if len(labelled) < self.max_fields_per_stream:
            labelled.add(path)
            return path
        return OTHER

    def observe_fields(self, stream: str, n: int) -> None:
        """The stream's published inventory holds ``n`` field paths."""
        self.fields.labels(stream).set(n)

    def observe_pii(self, stream: str, counts: Mapping[tuple[str, str], int]) -> None:
        """This worker's running PII counts per ``(path, kind)``: the counters advance by
        what they grew since the last call (never back)."""
        for (path, kind), n in sorted(counts.items()):
            grown = n - self._counted.get((stream, path, kind), 0)
            if grown <= 0:
                continue
            self._counted[stream, path, kind] = n
            label = kind if kind in PII_KINDS else OTHER
            self.pii_values.labels(stream, self._field(stream, path), label).inc(grown)
