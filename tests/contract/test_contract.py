"""The contract suite: every detector and scorer against every check.

Cases (one line each) are in :mod:`tests.contract.estimators`, checks in
:mod:`tests.contract.checks`. The last tests run each check against a toy that breaks it:
a check that cannot fail proves nothing.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract import checks
from tests.contract.estimators import CASES, Case, Record, messy, streams

STREAMS = streams()
MESSY = {stream: messy(records[:120]) for stream, records in STREAMS.items()}

Check = Callable[[Case, list[Record]], None]
CHECKS: dict[str, Check] = {
    "input_not_mutated": checks.check_input_not_mutated,
    "deterministic": checks.check_deterministic,
    "pickle_round_trip": checks.check_pickle_round_trip,
    "tolerates_messy_records": lambda case, records: checks.check_tolerates_messy_records(
        case, records, MESSY[case.stream]
    ),
    "stream_exercises_it": checks.check_stream_exercises_it,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=list(CHECKS))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_contract(case: Case, check: Check) -> None:
    check(case, STREAMS[case.stream])


def test_every_case_has_a_distinct_name() -> None:
    assert len({case.name for case in CASES}) == len(CASES)


# --- the checks can fail ----------------------------------------------------------------


class Counting:
    """A well-behaved toy: the running count and price total."""

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0

    def learn(self, record: Record) -> Any:
        self.n += 1
        price = record.get("price")
        if isinstance(price, int | float) and not isinstance(price, bool):
            self.total += price
        return self.n, self.total


class Mutating(Counting):
    def learn(self, record: Record) -> Any:
        record.pop("price", None)  # the bug: it edits its input
        return super().learn(record)


class Seedless(Counting):
    def __init__(self) -> None:
        super().__init__()
        self._rng = random.Random()  # noqa: S311 - the bug: seeded from the OS

    def learn(self, record: Record) -> Any:
        return (*super().learn(record), self._rng.random())


class Forgetful(Counting):
    def __getstate__(self) -> dict[str, Any]:
        return {"n": 0, "total": 0.0}  # the bug: pickling loses the state


class Locked(Counting):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()  # the bug: state that does not pickle


class Strict(Counting):
    def learn(self, record: Record) -> Any:
        self.total += float(record["price"])  # the bug: assumes a numeric price is there
        return self.n, self.total


class Constant(Counting):
    def learn(self, record: Record) -> Any:
        return None


def toy(kind: type[Counting]) -> Case:
    return Case(kind.__name__, "product", kind, lambda est, record, i: est.learn(record))


def test_the_toy_passes_every_check() -> None:
    for check in CHECKS.values():
        check(toy(Counting), STREAMS["product"])


@pytest.mark.parametrize(
    ("kind", "check", "error"),
    [
        (Mutating, "input_not_mutated", AssertionError),
        (Seedless, "deterministic", AssertionError),
        (Forgetful, "pickle_round_trip", AssertionError),
        (Locked, "pickle_round_trip", TypeError),
        (Strict, "tolerates_messy_records", (KeyError, TypeError, ValueError)),
        (Constant, "stream_exercises_it", AssertionError),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_each_check_catches_its_bug(
    kind: type[Counting], check: str, error: type[Exception] | tuple[type[Exception], ...]
) -> None:
    with pytest.raises(error):
        CHECKS[check](toy(kind), STREAMS["product"])
