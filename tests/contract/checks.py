"""The checks every estimator passes (River's ``check_estimator``, for StreamGuard).

Each check takes a :class:`~tests.contract.estimators.Case` and sample records and raises
``AssertionError`` (or the estimator's own exception) when the estimator breaks the
contract. ``test_contract.py`` runs every check on every case, and each check on a toy
built to break it, so a check that cannot fail is noticed.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from tests.contract.estimators import Case, Record


def run(case: Case, estimator: Any, records: list[Record], start: int = 0) -> list[Any]:
    """What the estimator returns for each record, in order."""
    return [case.feed(estimator, record, start + i) for i, record in enumerate(records)]


def check_input_not_mutated(case: Case, records: list[Record]) -> None:
    """Feeding a record leaves it as it was (deep copy before, compared after)."""
    estimator = case.make()
    for i, record in enumerate(records):
        before = copy.deepcopy(record)
        case.feed(estimator, record, i)
        assert record == before, f"{case} changed record {i}: {before!r} -> {record!r}"


def check_deterministic(case: Case, records: list[Record]) -> None:
    """Two fresh instances (same parameters, same seed) fed the same stream agree."""
    first, second = run(case, case.make(), records), run(case, case.make(), records)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, f"{case} differs between two instances at record {i}: {a!r} != {b!r}"


def check_pickle_round_trip(case: Case, records: list[Record]) -> None:
    """Pickled mid-stream, the copy goes on exactly like the original."""
    half = len(records) // 2
    original = case.make()
    run(case, original, records[:half])
    clone = pickle.loads(pickle.dumps(original))
    ahead = run(case, original, records[half:], start=half)
    copied = run(case, clone, records[half:], start=half)
    for i, (a, b) in enumerate(zip(ahead, copied, strict=True)):
        assert a == b, f"{case}: the unpickled copy differs at record {half + i}: {a!r} != {b!r}"


def check_tolerates_messy_records(case: Case, records: list[Record], messy: list[Record]) -> None:
    """Unknown fields, missing optional fields and wrong types raise nothing, and the
    estimator still works on clean records afterwards."""
    estimator = case.make()
    run(case, estimator, records[:50])
    run(case, estimator, messy, start=50)
    run(case, estimator, records[50:], start=50 + len(messy))


def check_stream_exercises_it(case: Case, records: list[Record]) -> None:
    """The sample stream moves the output (else the other checks would prove little)."""
    outputs = {repr(out) for out in run(case, case.make(), records)}
    assert len(outputs) > 1, f"{case}: the same output for every record of the stream"
