"""The profile of a stream: per dotted field path, presence, types, sketches, PII.

:class:`StreamProfile` learns one decoded record at a time (any JSON value: non-objects
are counted, not profiled) and keeps one :class:`FieldProfile` per dotted path
(``attributes.weight_g``; array elements under ``tags[]``). :meth:`StreamProfile.snapshot`
returns the stream's entry of ``inventory.json``. Profiles merge (two workers' partitions)
and pickle (the sketches are serialised).

Bounded memory and time (all constructor arguments):

- at most ``max_fields`` paths (default 500); values of further paths are counted in
  ``overflow`` (values and an estimate of the distinct paths);
- objects deeper than ``max_depth`` (default 8) are counted as ``object`` values, not
  descended; at most ``max_array_items`` (default 20) elements of each array are profiled;
- per field: an HLL sketch (lg_k 10, about 1 KB) of distinct values; the first 1024
  numbers kept exactly (8 KB), then a KLL sketch (k 100, under 3 KB, rank error about
  3%); the first 128 distinct values counted exactly (each cut to 100 characters,
  masked), then a frequent-items sketch of at most 24 values; 16 masked sample strings of
  at most 200 characters: at most about 40 KB, so at most about 20 MB per stream at the
  default cap. PII detection reads the first 4096 characters of a string.
- Exact while small, so small fields are deterministic; once a field passes the exact
  limits, its quantiles and top values are estimates (KLL compaction is randomised).

Examples
--------
>>> p = StreamProfile("demo")
>>> for i in range(100):
...     p.learn_one({"id": f"u{i}", "price": i / 10, "meta": {"tags": ["a", "b"]}})
>>> p.learn_one("not an object")
>>> snap = p.snapshot()
>>> snap["records"], snap["objects"], [f["path"] for f in snap["fields"]]
(101, 100, ['id', 'meta', 'meta.tags', 'meta.tags[]', 'price'])
>>> price = snap["fields"][-1]
>>> price["presence"], price["types"], price["numeric"]["max"]
(1.0, {'float': 1.0}, 9.9)
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

import datasketches as ds

from streamguard.inventory.pii import find_pii, mask
from streamguard.inventory.tags import FieldSummary, Tagger

__all__ = ["FieldProfile", "StreamProfile", "json_type"]

HLL_LG_K = 10
KLL_K = 100
FREQUENT_LG_MAX = 5
TOP_VALUES = 5
MAX_SAMPLES = 16
MAX_VALUE_CHARS = 100
MAX_SAMPLE_CHARS = 200
#: Numbers and distinct values kept exactly before the sketches take over (exact, and so
#: deterministic and pickle-stable, for small fields; KLL compaction is randomised).
EXACT_NUMBERS = 1024
EXACT_VALUES = 128


def json_type(value: Any) -> str:
    """The JSON type of a decoded value: string, integer, float, boolean, object, array, null.

    >>> [json_type(v) for v in ("a", 1, 1.5, True, {}, [], None)]
    ['string', 'integer', 'float', 'boolean', 'object', 'array', 'null']
    """
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "null"


def _key(value: Any, kind: str) -> str | None:
    """The text a scalar is counted under (None for objects and arrays)."""
    if kind == "string":
        return str(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "null":
        return "null"
    if kind in ("integer", "float"):
        return repr(value)
    return None


class FieldProfile:
    """Sketches of one field path's values.

    >>> f = FieldProfile("contact")
    >>> for i, v in enumerate(["ana@example.com", "n/a", 3, None]):
    ...     f.learn_one(v, record=i)
    >>> f.present, f.types(), f.pii()
    (4, {'integer': 0.25, 'null': 0.25, 'string': 0.5}, {'email': 0.25})
    >>> [t["value"] for t in f.top_values()]
    ['3', '[email]', 'n/a', 'null']
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.present = 0  # records in which the path occurs
        self._last_record = -1
        self._values = 0
        self._types: Counter[str] = Counter()
        self._pii: Counter[str] = Counter()
        self._words = 0
        self._strings = 0
        self._samples: list[str] = []
        self._hll = ds.hll_sketch(HLL_LG_K, ds.tgt_hll_type.HLL_8)
        self._numbers: array[float] | None = array("d")
        self._counts: Counter[str] | None = Counter()
        self._kll = ds.kll_doubles_sketch(KLL_K)
        self._freq = ds.frequent_strings_sketch(FREQUENT_LG_MAX)

    def learn_one(self, value: Any, record: int) -> None:
        """One value of this path, seen in record number ``record``."""
        if record != self._last_record:
            self._last_record = record
            self.present += 1
        self._values += 1
        kind = json_type(value)
        self._types[kind] += 1
        key = _key(value, kind)
        if key is None:
            return
        if kind == "string":
            matches = find_pii(key)
            if matches:
                for pii_kind in {m[0] for m in matches}:
                    self._pii[pii_kind] += 1
                key = mask(key, matches)
            self._strings += 1
            self._words += key.count(" ") + 1 if key else 0
            if len(self._samples) < MAX_SAMPLES and key[:MAX_SAMPLE_CHARS] not in self._samples:
                self._samples.append(key[:MAX_SAMPLE_CHARS])
        elif kind in ("integer", "float") and value == value:  # NaN is not a number
            self._add_number(float(value))
        self._hll.update(key)
        self._add_value(key[:MAX_VALUE_CHARS], 1)

    def _add_number(self, number: float) -> None:
        if self._numbers is None:
            self._kll.update(number)
            return
        self._numbers.append(number)
        if len(self._numbers) > EXACT_NUMBERS:
            for kept in self._numbers:
                self._kll.update(kept)
            self._numbers = None

    def _add_value(self, key: str, weight: int) -> None:
        if self._counts is None:
            self._freq.update(key, weight)
            return
        self._counts[key] += weight
        if len(self._counts) > EXACT_VALUES:
            for kept, n in self._counts.items():
                self._freq.update(kept, n)
            self._counts = None

    def merge(self, other: FieldProfile) -> None:
        """Add ``other``'s values (another partition of the same stream)."""
        self.present += other.present
        self._values += other._values
        self._types.update(other._types)
        self._pii.update(other._pii)
        self._words += other._words
        self._strings += other._strings
        for sample in other._samples:
            if len(self._samples) < MAX_SAMPLES and sample not in self._samples:
                self._samples.append(sample)
        union = ds.hll_union(HLL_LG_K)
        union.update(self._hll)
        union.update(other._hll)
        self._hll = union.get_result(ds.tgt_hll_type.HLL_8)
        if other._numbers is None:
            self._kll.merge(other._kll)
        else:
            for number in other._numbers:
                self._add_number(number)
        if other._counts is None:
            if self._counts is not None:
                for kept, n in self._counts.items():
                    self._freq.update(kept, n)
                self._counts = None
            self._freq.merge(other._freq)
        else:
            for kept, n in other._counts.items():
                self._add_value(kept, n)

    def types(self) -> dict[str, float]:
        """Share of present values of each JSON type."""
        total = self._values or 1
        return {kind: round(n / total, 4) for kind, n in sorted(self._types.items())}

    def pii(self) -> dict[str, float]:
        """Share of present values that contain each kind of personal data."""
        total = self._values or 1
        return {kind: round(n / total, 4) for kind, n in sorted(self._pii.items())}

    def numeric(self) -> dict[str, float] | None:
        """min, p50, p99, max of the numbers seen (None without numbers)."""
        if self._numbers is not None:
            if not self._numbers:
                return None
            ordered = sorted(self._numbers)
            last = len(ordered) - 1
            return {
                "min": ordered[0],
                "p50": ordered[round(0.5 * last)],
                "p99": ordered[round(0.99 * last)],
                "max": ordered[-1],
            }
        if self._kll.is_empty():
            return None
        return {
            "min": self._kll.get_min_value(),
            "p50": self._kll.get_quantile(0.5),
            "p99": self._kll.get_quantile(0.99),
            "max": self._kll.get_max_value(),
        }

    def distinct_estimate(self) -> int:
        """Estimated number of distinct scalar values (HLL)."""
        return round(float(self._hll.get_estimate()))

    def top_values(self, k: int = TOP_VALUES) -> list[dict[str, Any]]:
        """The most frequent values (masked) with their share of values.

        Exact up to 128 distinct values; past that, heavy hitters only, each with a lower
        bound of its share.
        """
        if self._counts is not None:
            pairs = list(self._counts.items())
        else:
            # past the exact limit: only values whose guaranteed count (lower bound) beats
            # the sketch's a-priori error, i.e. real heavy hitters, with that lower bound
            error = ds.frequent_items_error_type.NO_FALSE_POSITIVES
            noise = self._freq.get_apriori_error(FREQUENT_LG_MAX, self._freq.total_weight)
            pairs = [
                (item[0], item[2])
                for item in self._freq.get_frequent_items(error)
                if item[2] > noise
            ]
        pairs = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:k]
        total = self._values or 1
        return [{"value": value, "share": round(n / total, 4)} for value, n in pairs]

    def summary(self) -> FieldSummary:
        """What the tagger reads."""
        return FieldSummary(
            path=self.path,
            types=self.types(),
            present=self._values,
            distinct_estimate=self._hll.get_estimate(),
            numeric=self.numeric(),
            pii=self.pii(),
            samples=list(self._samples),
            mean_words=self._words / self._strings if self._strings else 0.0,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_hll"] = self._hll.serialize_compact()
        state["_kll"] = self._kll.serialize()
        state["_freq"] = self._freq.serialize()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_hll"] = ds.hll_sketch.deserialize(state["_hll"])
        state["_kll"] = ds.kll_doubles_sketch.deserialize(state["_kll"])
        state["_freq"] = ds.frequent_strings_sketch.deserialize(state["_freq"])
        self.__dict__.update(state)


class StreamProfile:
    """The inventory of one stream: a :class:`FieldProfile` per path, bounded.

    ``declared`` names the top-level fields of the stream's schema (``schema`` its
    version), so each field says whether the schema declares it.
    """

    def __init__(
        self,
        stream: str,
        source: str | None = None,
        schema: str | None = None,
        declared: frozenset[str] | None = None,
        max_fields: int = 500,
        max_depth: int = 8,
        max_array_items: int = 20,
    ) -> None:
        self.stream = stream
        self.source = source
        self.schema = schema
        self.declared = declared
        self.max_fields = max_fields
        self.max_depth = max_depth
        self.max_array_items = max_array_items
        self._records = 0
        self._objects = 0
        self._fields: dict[str, FieldProfile] = {}
        self._overflow_values = 0
        self._overflow_paths = ds.hll_sketch(HLL_LG_K, ds.tgt_hll_type.HLL_8)

    @property
    def records(self) -> int:
        """Records seen (any JSON value, or undecodable: see :meth:`count_invalid`)."""
        return self._records

    def count_invalid(self) -> None:
        """Count a record that was not JSON at all."""
        self._records += 1

    def learn_one(self, record: Any) -> None:
        """Profile one decoded record (a JSON object; anything else is only counted)."""
        self._records += 1
        if not isinstance(record, dict):
            return
        self._objects += 1
        self._walk(record, "", 0)

    def _field(self, path: str) -> FieldProfile | None:
        found = self._fields.get(path)
        if found is None:
            if len(self._fields) >= self.max_fields:
                self._overflow_values += 1
                self._overflow_paths.update(path)
                return None
            found = self._fields[path] = FieldProfile(path)
        return found

    def _walk(self, obj: dict[Any, Any], prefix: str, depth: int) -> None:
        for name, value in obj.items():
            path = f"{prefix}{name}"
            self._value(path, value, depth)

    def _value(self, path: str, value: Any, depth: int) -> None:
        profile = self._field(path)
        if profile is not None:
            profile.learn_one(value, self._records)
        if depth >= self.max_depth:
            return
        if isinstance(value, dict):
            self._walk(value, path + ".", depth + 1)
        elif isinstance(value, list):
            for item in value[: self.max_array_items]:
                self._value(path + "[]", item, depth + 1)

    def merge(self, other: StreamProfile) -> None:
        """Add another profile of the same stream (another worker's partitions)."""
        self._records += other._records
        self._objects += other._objects
        self._overflow_values += other._overflow_values
        union = ds.hll_union(HLL_LG_K)
        union.update(self._overflow_paths)
        union.update(other._overflow_paths)
        self._overflow_paths = union.get_result(ds.tgt_hll_type.HLL_8)
        for path, theirs in other._fields.items():
            mine = self._fields.get(path)
            if mine is not None:
                mine.merge(theirs)
            elif len(self._fields) < self.max_fields:
                self._fields[path] = FieldProfile(path)
                self._fields[path].merge(theirs)
            else:
                self._overflow_values += theirs._values
                self._overflow_paths.update(path)

    def _in_schema(self, path: str) -> bool | None:
        if self.declared is None:
            return None
        return path.split(".", 1)[0].removesuffix("[]") in self.declared

    def snapshot(self, tagger: Tagger | None = None) -> dict[str, Any]:
        """The stream's entry of ``inventory.json`` (fields sorted by path)."""
        tagger = tagger or Tagger()
        fields = [self._fields[path] for path in sorted(self._fields)]
        tags = tagger.tag([f.summary() for f in fields])
        objects = self._objects or 1
        return {
            "stream": self.stream,
            "source": self.source or self.stream,
            "records": self._records,
            "objects": self._objects,
            "schema": self.schema,
            "fields": [
                {
                    "path": f.path,
                    "presence": round(min(1.0, f.present / objects), 4),
                    "types": f.types(),
                    "distinct_estimate": f.distinct_estimate(),
                    "numeric": f.numeric(),
                    "top_values": f.top_values(),
                    "tags": field_tags,
                    "pii": f.pii(),
                    "in_schema": self._in_schema(f.path),
                }
                for f, field_tags in zip(fields, tags, strict=True)
            ],
            "overflow": {
                "fields_estimate": round(self._overflow_paths.get_estimate()),
                "values": self._overflow_values,
                "max_fields": self.max_fields,
            },
            "lineage": {"inputs": [self.source or self.stream], "outputs": {}},
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_overflow_paths"] = self._overflow_paths.serialize_compact()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_overflow_paths"] = ds.hll_sketch.deserialize(state["_overflow_paths"])
        self.__dict__.update(state)
