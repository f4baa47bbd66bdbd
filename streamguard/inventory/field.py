"""One field's profile: presence, JSON types, sketches of its values, PII.

:class:`FieldProfile` is what :class:`~streamguard.inventory.profile.StreamProfile` keeps
per dotted path (the bounds are described there): an HLL sketch of distinct values, the
first numbers exactly and then a KLL sketch, the first distinct values exactly and then a
frequent-items sketch, masked samples, and the share of values holding each kind of PII.

Examples
--------
>>> f = FieldProfile("price")
>>> for i, x in enumerate([1.5, 2.5, 3.5, "n/a"]):
...     f.learn_one(x, i)
>>> f.types(), f.numeric()["max"]
({'float': 0.75, 'string': 0.25}, 3.5)
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

import datasketches as ds
import numpy as np

from streamguard.inventory.pii import find_pii, mask
from streamguard.inventory.tags import FieldSummary

__all__ = ["EXACT_NUMBERS", "EXACT_VALUES", "HLL_LG_K", "FieldProfile", "json_type"]

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


#: The JSON type of each Python type a JSON decoder produces (others: one by one).
_KINDS: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    type(None): "null",
    dict: "object",
    list: "array",
}


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
        self._learn_value(value)

    def _learn_value(self, value: Any, counted: bool = False) -> None:
        kind = json_type(value)
        if not counted:
            self._values += 1
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
        elif kind == "integer":
            self._add_int(value)
        elif kind == "float" and value == value:  # NaN is not a number
            self._add_number(float(value))
        self._hll.update(key)
        self._add_value(key[:MAX_VALUE_CHARS], 1)

    def learn_many(self, values: list[Any], present: int) -> None:
        """Many values of this path, in order, from ``present`` records (one batch).

        The same state as :meth:`learn_one` over ``values``, computed per distinct value
        of each JSON type (one PII scan and one count per distinct string); the HLL sees
        the values' keys in their order. Past the exact limits the KLL and frequent-items
        sketches may receive a batch in another order, or as weights: the same estimates
        within their error bounds.
        """
        self.present += present
        groups: dict[type, list[Any]] = {}
        for value in values:
            group = groups.get(type(value))
            if group is None:
                groups[type(value)] = [value]
            else:
                group.append(value)
        floats = groups.get(float)
        if any(t not in _KINDS for t in groups) or (
            floats is not None and any(x == 0.0 or x != x for x in floats)
        ):
            for value in values:  # other types, -0.0 and NaN: one by one, as learn_one
                self._learn_value(value)
            return
        self._values += len(values)
        keys: dict[type, dict[Any, str]] = {}
        for kind_type, group in groups.items():
            kind = _KINDS[kind_type]
            self._types[kind] += len(group)
            if kind in ("object", "array"):
                continue
            counts = Counter(group)
            if kind == "string":
                keys[str] = self._learn_strings(counts)
                continue
            if kind in ("integer", "float"):
                self._add_numbers(group)
                table = {number: repr(number) for number in counts}
            else:
                table = {
                    flag: "null" if flag is None else _key(flag, kind) or "" for flag in counts
                }
            keys[kind_type] = table
            for value, n in counts.items():
                self._add_value(table[value][:MAX_VALUE_CHARS], n)
        update = self._hll.update
        if len(groups) == 1:
            for key in dict.fromkeys(next(iter(keys.values()), {}).values()):
                update(key)
            return
        seen: set[str] = set()
        for value in values:
            keyed = keys.get(type(value))
            if keyed is not None:
                key = keyed[value]
                if key not in seen:
                    seen.add(key)
                    update(key)

    def _learn_strings(self, counts: Counter[str]) -> dict[str, str]:
        """Scan and count each distinct string; return each one's (masked) key."""
        keys: dict[str, str] = {}
        for text, n in counts.items():
            key = text
            matches = find_pii(text)
            if matches:
                for pii_kind in {m[0] for m in matches}:
                    self._pii[pii_kind] += n
                key = mask(text, matches)
            keys[text] = key
            self._strings += n
            self._words += n * (key.count(" ") + 1) if key else 0
            if len(self._samples) < MAX_SAMPLES and key[:MAX_SAMPLE_CHARS] not in self._samples:
                self._samples.append(key[:MAX_SAMPLE_CHARS])
            self._add_value(key[:MAX_VALUE_CHARS], n)
        return keys

    def _add_numbers(self, numbers: list[Any]) -> None:
        try:
            batch = array("d", numbers)
        except OverflowError:  # an integer past the float range: one by one
            for number in numbers:
                self._add_int(number)
            return
        if self._numbers is None:
            self._kll.update(np.frombuffer(batch, dtype=np.float64))
            return
        self._numbers.extend(batch)
        if len(self._numbers) > EXACT_NUMBERS:
            self._kll.update(np.frombuffer(self._numbers, dtype=np.float64))
            self._numbers = None

    def _add_int(self, number: int) -> None:
        try:
            as_float = float(number)
        except OverflowError:
            return  # past the float range: counted and typed, not in the quantiles
        self._add_number(as_float)

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
