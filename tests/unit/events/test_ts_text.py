"""The cached ``ts`` text helpers give what the plain computations give."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from streamguard.events.records import format_ts
from streamguard.events.ts_text import CanonicalTs, MillisText


def test_canonical_ts_is_fromisoformat_timestamp_across_seconds_and_days() -> None:
    rng = random.Random(5)
    parse = CanonicalTs()
    moment = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        moment += timedelta(milliseconds=rng.choice([0, 1, 999, 1000, 86_400_000 * 37]))
        ts = format_ts(moment)
        assert parse.seconds(ts) == datetime.fromisoformat(ts).timestamp()


def test_canonical_ts_refuses_what_is_not_canonical_even_after_a_cached_second() -> None:
    parse = CanonicalTs()
    assert parse.seconds("2026-11-01T00:00:00.005Z") is not None  # caches the second
    for odd in (
        "2026-11-01T00:00:00.00\u0661Z",  # a non-ASCII digit
        "2026-11-01T00:00:00.001+",
        "2026-11-01T00:00:00,001Z",
        "2026-11-01T00:00:00Z",
        "2026-02-30T00:00:00.000Z",  # no such day
        "2026-1a-01T00:00:00.000Z",
        "\u0662026-11-01T00:00:00.000Z",
    ):
        assert parse.seconds(odd) is None, odd


def test_millis_text_is_format_ts_in_and_out_of_the_cached_range() -> None:
    rng = random.Random(6)
    text = MillisText()
    millis = [rng.randrange(0, 2**32 * 1000) for _ in range(5_000)]
    millis += [0, 999, 1000, 2**32 * 1000 - 1, 2**32 * 1000 + 7, -1, -1001]
    for ms in millis:
        assert text(ms) == format_ts(datetime.fromtimestamp(ms / 1000, tz=UTC)), ms
