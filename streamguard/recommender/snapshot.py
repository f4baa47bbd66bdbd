"""Snapshots of a recommender model: versioned JSON bytes, checked on load.

Both algorithms are saved: :class:`CooccurrenceRecommender` (``item-cooc-v1``, the
format unchanged) and :class:`SequenceRecommender` (``item-seq-v1``: the same fields plus
its transitions, time-decayed popularity and each user's rows not yet folded into their
scores). A snapshot names its algorithm; restoring
one of an unknown algorithm is a :class:`SnapshotError`.

JSON (orjson), not pickle: a snapshot read back from disk or Kafka is data, never code,
and every field is type-checked before it reaches the model. ``write_snapshot`` replaces
the file atomically, so a crash mid-write leaves the previous snapshot intact.

A snapshot may also carry the *positions* its model has learned up to (``(topic,
partition) -> next offset``): the standalone recommender (``streamguard recommender``)
stores them in the same file, written in one atomic step, and resumes reading there, so
no event is learned twice across a restart (:func:`restore_positions`).

Examples
--------
>>> from streamguard.recommender.model import CooccurrenceRecommender
>>> model = CooccurrenceRecommender()
>>> _ = model.learn_one({"user_id": "u", "product_id": "a", "event_type": "view"})
>>> _ = model.learn_one({"user_id": "u", "product_id": "b", "event_type": "view"})
>>> copy = restore(snapshot(model))
>>> copy.recommend("v", 2) == model.recommend("v", 2), copy.version
(True, 'item-cooc-v1@2')
>>> model2, positions = restore_positions(snapshot(model, positions={("clicks", 0): 2}))
>>> positions, model2.events_learned
({('clicks', 0): 2}, 2)
>>> restore(b'{"format": "something else"}')
Traceback (most recent call last):
...
streamguard.recommender.snapshot.SnapshotError: not a recommender snapshot
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from streamguard.recommender.model import ALGORITHM, CooccurrenceRecommender
from streamguard.recommender.params import RecommenderConfig, SequenceConfig
from streamguard.recommender.popularity import PopularityRanking
from streamguard.recommender.sequence import SEQUENCE_ALGORITHM, SequenceRecommender
from streamguard.recommender.user import UserState
from streamguard.runtime import files

__all__ = [
    "FORMAT",
    "Model",
    "VERSION",
    "Positions",
    "SnapshotError",
    "read_snapshot",
    "restore",
    "restore_positions",
    "snapshot",
    "write_atomic",
    "write_snapshot",
]

FORMAT = "streamguard.recommender"
VERSION = 1

Model = CooccurrenceRecommender | SequenceRecommender
"""The models a snapshot holds."""

Positions = dict[tuple[str, int], int]
"""``(topic, partition) -> next offset to read``: what a model has learned up to."""


class SnapshotError(ValueError):
    """The bytes are not a snapshot this version can restore."""


def snapshot(model: Model, *, positions: Positions | None = None) -> bytes:
    """The model's whole state as JSON bytes, with the input ``positions`` it covers."""
    sequence = isinstance(model, SequenceRecommender)
    state: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "algorithm": SEQUENCE_ALGORITHM if sequence else ALGORITHM,
        "config": model.config.as_dict(),
        "clock": model._clock,
        "pair_ref": model._pair_ref,
        "learned": model._learned,
        "rows": [[item, model._row_sums[item], row] for item, row in model._rows.items()],
        "users": [
            [uid, u.scale, u.prior, u.ts, list(u.recent), list(u.seen), u.scores]
            for uid, u in model._users.items()
        ],
        "popularity": {
            "total": model._popularity.total,
            "items": model._popularity.state(),
        },
        "unavailable": list(model._unavailable),
    }
    if isinstance(model, SequenceRecommender):
        state["next"] = [[item, model._next_sums[item], row] for item, row in model._next.items()]
        state["trending"] = None if model._trending is None else model._trending.state()
        # The rows learned but not yet in the users' scores, as the live model holds them
        # (folding them here would make a snapshot change the model it reads: a restart
        # would then answer otherwise than a run that never stopped).
        state["pending"] = [
            [uid, [[item, share] for item, share in u.pending]]
            for uid, u in model._users.items()
            if u.pending
        ]
    if positions is not None:
        state["positions"] = [[topic, part, offset] for (topic, part), offset in positions.items()]
    return orjson.dumps(state)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SnapshotError(message)


def _number(value: Any, what: str) -> float:
    _check(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        f"{what} must be a finite number",
    )
    return float(value)


def _strings(value: Any, what: str) -> list[str]:
    _check(
        isinstance(value, list) and all(isinstance(v, str) for v in value),
        f"{what} must be a list of strings",
    )
    return list(value)


def _weights(value: Any, what: str) -> dict[str, float]:
    _check(isinstance(value, dict), f"{what} must be an object")
    return {key: _number(v, what) for key, v in value.items()}


def restore(data: bytes) -> Model:
    """A model from :func:`snapshot` bytes; :class:`SnapshotError` if they are not one."""
    return restore_positions(data)[0]


def restore_positions(data: bytes) -> tuple[Model, Positions]:
    """The model and the input positions a :func:`snapshot` covers (empty when it was
    taken without any); :class:`SnapshotError` if the bytes are not a snapshot."""
    try:
        state = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"snapshot is not JSON: {exc}") from None
    _check(isinstance(state, dict) and state.get("format") == FORMAT, "not a recommender snapshot")
    _check(
        state.get("version") == VERSION,
        f"snapshot version {state.get('version')!r} is not supported (expected {VERSION})",
    )
    algorithm = state.get("algorithm")
    _check(
        algorithm in (ALGORITHM, SEQUENCE_ALGORITHM),
        f"snapshot of another algorithm: {algorithm!r} (known: {ALGORITHM}, {SEQUENCE_ALGORITHM})",
    )
    model: Model
    try:
        if algorithm == ALGORITHM:
            model = CooccurrenceRecommender(RecommenderConfig.from_dict(state["config"]))
        else:
            model = SequenceRecommender(SequenceConfig.from_dict(state["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"bad config in snapshot: {exc}") from None
    try:
        _fill(model, state)
        if isinstance(model, SequenceRecommender):
            _fill_sequence(model, state)
            _fill_pending(model, state)
        positions = _positions(state.get("positions", []))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"malformed snapshot: {exc!r}") from None
    return model, positions


def _positions(value: Any) -> Positions:
    _check(isinstance(value, list), "positions must be a list")
    positions: Positions = {}
    for topic, partition, offset in value:
        _check(
            isinstance(topic, str)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in (partition, offset))
            and partition >= 0
            and offset >= 0,
            "a position must be [topic, partition >= 0, offset >= 0]",
        )
        positions[topic, partition] = offset
    return positions


def _fill(model: Model, state: dict[str, Any]) -> None:
    clock = state["clock"]
    model._clock = None if clock is None else _number(clock, "clock")
    model._pair_ref = _number(state["pair_ref"], "pair_ref")
    learned = state["learned"]
    _check(isinstance(learned, int) and learned >= 0, "learned must be an integer >= 0")
    model._learned = learned
    config = model.config
    rows = state["rows"]
    _check(isinstance(rows, list), "rows must be a list")
    for item, total, row in rows[-config.max_items :]:
        _check(isinstance(item, str), "row item must be a string")
        model._rows[item] = _weights(row, f"row {item!r}")
        model._row_sums[item] = _number(total, f"row sum of {item!r}")
    users = state["users"]
    _check(isinstance(users, list), "users must be a list")
    for uid, scale, prior, ts, recent, seen, scores in users[-config.max_users :]:
        _check(isinstance(uid, str), "user id must be a string")
        user = UserState(config.window)
        user.scale = _number(scale, "user scale")
        _check(user.scale > 0, "user scale must be > 0")
        user.prior = _number(prior, "user prior")
        _check(user.prior >= 0, "user prior must be >= 0")
        user.ts = None if ts is None else _number(ts, "user ts")
        user.recent = deque(_strings(recent, "recent items"), maxlen=config.window)
        user.seen = dict.fromkeys(_strings(seen, "seen items")[-config.max_history :])
        user.scores = _weights(scores, "candidate scores")
        model._users[uid] = user
    popularity = state["popularity"]
    _check(isinstance(popularity, dict), "popularity must be an object")
    total = popularity["total"]
    _check(isinstance(total, int) and total >= 0, "popularity total must be an integer >= 0")
    pairs = []
    for item, count in popularity["items"]:
        _check(isinstance(item, str) and isinstance(count, int), "bad popularity entry")
        pairs.append((item, count))
    model._popularity = PopularityRanking.from_state(pairs, total, config.max_items)
    unavailable = _strings(state["unavailable"], "unavailable")
    model._unavailable = dict.fromkeys(unavailable[-config.max_unavailable :])


def _fill_sequence(model: SequenceRecommender, state: dict[str, Any]) -> None:
    """The sequence model's own parts: transitions and time-decayed popularity."""
    transitions = state["next"]
    _check(isinstance(transitions, list), "next must be a list")
    for item, total, row in transitions:
        _check(isinstance(item, str), "transition item must be a string")
        successors = _weights(row, f"transitions of {item!r}")
        total = _number(total, f"transition sum of {item!r}")
        if item in model._rows:  # like the model: only items it still holds
            model._next[item], model._next_sums[item] = successors, total
    trending = state["trending"]
    if trending is None or model._trending is None:
        return
    _check(isinstance(trending, dict), "trending must be an object")
    clock = trending["clock"]
    items = trending["items"]
    _check(isinstance(items, list), "trending items must be a list")
    pairs = []
    for item, score in items:
        _check(isinstance(item, str), "trending item must be a string")
        pairs.append((item, _number(score, "trending score")))
    model._trending.load(
        None if clock is None else _number(clock, "trending clock"),
        _number(trending["ref"], "trending ref"),
        _number(trending["total"], "trending total"),
        pairs,
    )


def _fill_pending(model: SequenceRecommender, state: dict[str, Any]) -> None:
    """Each user's learned rows not yet folded into their scores (absent from
    snapshots written before it was stored: their scores held every row)."""
    pending = state.get("pending", [])
    _check(isinstance(pending, list), "pending must be a list")
    longest = 2 * model.config.max_pending
    for uid, shares in pending:
        _check(isinstance(uid, str) and isinstance(shares, list), "bad pending entry")
        held = []
        for item, share in shares:
            _check(isinstance(item, str), "pending item must be a string")
            held.append((item, _number(share, f"pending share of {item!r}")))
        user = model._users.get(uid)
        if user is not None:  # like the model: only users it still holds
            user.pending = held[-longest:]


def write_snapshot(model: Model, path: Path) -> int:
    """Write a snapshot to ``path`` atomically (temp file + rename); returns its size."""
    return write_atomic(snapshot(model), path)


def write_atomic(data: bytes, path: Path) -> int:
    """Replace ``path`` with ``data`` atomically; returns the size.

    For an event loop: take ``snapshot(model)`` on the loop (the model must not change
    while it is dumped), then run this in an executor (it fsyncs).
    """
    return files.write_atomic(path, [data])


def read_snapshot(path: Path) -> Model | None:
    """The model saved at ``path``, or None when there is no snapshot yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return restore(data)
