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

from typing import Any

import datasketches as ds

from streamguard.inventory.field import HLL_LG_K, FieldProfile, json_type
from streamguard.inventory.lineage import file_lineage
from streamguard.inventory.tags import Tagger

__all__ = ["BATCH_RECORDS", "FieldProfile", "StreamProfile", "json_type"]

#: Records whose values are buffered per path before the fields learn them as a batch
#: (one PII scan and one sketch update per distinct value in the batch).
BATCH_RECORDS = 256


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
        self._pending: dict[str, list[Any]] = {}  # path -> values not yet learnt
        self._batched = 0

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
        self._batched += 1
        if self._batched >= BATCH_RECORDS:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered values to their fields (snapshot, merge and pickling do)."""
        pending, self._pending = self._pending, {}
        self._batched = 0
        fields = self._fields
        for path, values in pending.items():
            if values:
                fields[path].learn_many(values, len(values))

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
        # Outside arrays a path occurs at most once per record (keys are unique), so its
        # values are buffered and reach the field in batches (learn_many); the record's
        # presence is the number of values.
        pending = self._pending
        for name, value in obj.items():
            path = f"{prefix}{name}" if prefix or type(name) is not str else name
            values = pending.get(path)
            if values is None:
                if self._field(path) is not None:
                    values = pending[path] = [value]
            else:
                values.append(value)
            if depth < self.max_depth:
                kind = type(value)
                if kind is dict or kind is list or isinstance(value, dict | list):
                    self._descend(path, value, depth)

    def _descend(self, path: str, value: Any, depth: int) -> None:
        if isinstance(value, dict):
            self._walk(value, path + ".", depth + 1)
        elif isinstance(value, list):
            for item in value[: self.max_array_items]:
                self._value(path + "[]", item, depth + 1)

    def _value(self, path: str, value: Any, depth: int) -> None:
        """A value inside an array: a path that may occur many times in one record."""
        profile = self._field(path)
        if profile is not None:
            buffered = self._pending.pop(path, None)
            if buffered:  # the same path also outside an array: keep its values in order
                profile.learn_many(buffered, len(buffered))
            profile.learn_one(value, self._records)
        if depth >= self.max_depth:
            return
        if isinstance(value, dict):
            self._walk_in_array(value, path + ".", depth + 1)
        elif isinstance(value, list):
            for item in value[: self.max_array_items]:
                self._value(path + "[]", item, depth + 1)

    def _walk_in_array(self, obj: dict[Any, Any], prefix: str, depth: int) -> None:
        for name, value in obj.items():
            self._value(f"{prefix}{name}", value, depth)

    def merge(self, other: StreamProfile) -> None:
        """Add another profile of the same stream (another worker's partitions)."""
        self.flush()
        other.flush()
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
        self.flush()
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
            # a file's: no outputs (the worker fills its own, see inventory/live.py)
            "lineage": file_lineage(self.source or self.stream, self.schema),
        }

    def __getstate__(self) -> dict[str, Any]:
        self.flush()
        state = self.__dict__.copy()
        del state["_pending"], state["_batched"]
        state["_overflow_paths"] = self._overflow_paths.serialize_compact()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_overflow_paths"] = ds.hll_sketch.deserialize(state["_overflow_paths"])
        self.__dict__.update(state)
        self._pending = {}
        self._batched = 0
