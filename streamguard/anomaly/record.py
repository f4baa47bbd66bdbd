"""One record's anomaly score: numeric features, keyed prices, text surprise and novelty.

:class:`RecordScorer` combines the models of :mod:`streamguard.anomaly.models` and
:mod:`streamguard.anomaly.centroid` by ``max`` into one score in [0, 1] per record, and
names the field that scored highest (the culprit):

* numeric features (behaviour: price and quantity, per event type and currency; product:
  price and stock, per category and currency) through :class:`NumericAnomaly`;
* a price against its product's usual price (:class:`KeyedPrice`, per product and
  currency): behaviour events carry no category, and on the product stream a price
  tripled overnight is well inside its category's spread;
* short text fields (:data:`SURPRISE_FIELDS`) through :class:`TextSurprise`;
* every text field's embedding novelty (:class:`CentroidNovelty`), once the field's
  texts are embedded (:meth:`RecordScorer.learn_vectors`, from the embedding path).

Examples
--------
>>> scorer = RecordScorer("product", text_fields=("title",))
>>> for i in range(300):
...     _ = scorer.score_and_learn({"category": "toys", "price": 20.0 + i % 7,
...                                 "stock": 40 + i % 30, "title": f"Casa Toy {i % 9}"})
>>> scorer.score_and_learn({"category": "toys", "price": 22.0, "title": "Casa Toy 3"})
RecordScore(score=0.0, field=None, group='toys:_none')
>>> odd = scorer.score_and_learn({"category": "toys", "price": 22_000.0})
>>> odd.score >= 0.9, odd.field
(True, 'price')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from streamguard.anomaly.centroid import CentroidNovelty
from streamguard.anomaly.models import KeyedPrice, NumericAnomaly, TextSurprise

__all__ = ["GROUP_FIELDS", "NUMERIC_FIELDS", "SURPRISE_FIELDS", "RecordScore", "RecordScorer"]

#: Numeric features scored per stream.
NUMERIC_FIELDS: dict[str, tuple[str, ...]] = {
    "behavior": ("price", "quantity"),
    "product": ("price", "stock"),
}
#: The field that, with ``currency``, groups a stream's numeric statistics.
GROUP_FIELDS: dict[str, str] = {"behavior": "event_type", "product": "category"}
#: Text fields scored for character-level surprise (random-character titles).
SURPRISE_FIELDS = frozenset({"title", "query"})


class RecordScore(NamedTuple):
    """A record's anomaly score, the field that scored it (None: none did) and its group.

    A named tuple rather than a dataclass: one is made per record, and a tuple is cheaper.
    """

    score: float
    field: str | None
    group: str


_new_tuple = tuple.__new__


class RecordScorer:
    """The anomaly score of one stream's records (see the module docstring).

    Parameters
    ----------
    stream
        ``"behavior"`` or ``"product"``: picks the numeric features and the grouping;
        any other name needs ``numeric_fields``.
    text_fields
        Text fields scored (surprise for those in :data:`SURPRISE_FIELDS`, novelty for all).
    threshold
        Scores at least this are anomalies: only then is the culprit among several numeric
        features worked out (it costs one more scoring per feature).
    numeric_options
        Keyword arguments for :class:`NumericAnomaly`.
    numeric_fields, group_field
        The numeric features and the field that, with ``currency``, groups their
        statistics (``None``: one group), for a stream a contract declares (default: the
        shipped stream's :data:`NUMERIC_FIELDS` and :data:`GROUP_FIELDS`).
    """

    def __init__(
        self,
        stream: str,
        *,
        text_fields: Sequence[str] = (),
        threshold: float = 0.9,
        numeric_options: Mapping[str, Any] | None = None,
        numeric_fields: Sequence[str] | None = None,
        group_field: str | None = None,
    ) -> None:
        if numeric_fields is None:
            if stream not in NUMERIC_FIELDS:
                raise ValueError(f"unknown stream {stream!r}: expected 'behavior' or 'product'")
            numeric_fields, group_field = NUMERIC_FIELDS[stream], GROUP_FIELDS[stream]
        self.stream = stream
        self.text_fields = tuple(text_fields)
        self.threshold = threshold
        self.numeric_options = dict(numeric_options or {})
        self.numeric = NumericAnomaly(**self.numeric_options)
        self.prices = KeyedPrice()
        self._numeric_fields = tuple(numeric_fields)
        self._group_field = group_field
        # Character surprise on short fields only: descriptions are long and varied.
        surprise = {field: TextSurprise() for field in self.text_fields if field in SURPRISE_FIELDS}
        self._text_plan = [(field, surprise.get(field)) for field in self.text_fields]
        #: Embedding novelty per text field (made when the field's first vectors arrive).
        self.centroids: dict[str, CentroidNovelty] = {}

    def group(self, record: Mapping[str, Any]) -> str:
        """The statistics group of a record (``<category or event type>:<currency>``)."""
        key = (record.get(self._group_field) if self._group_field else None) or "_none"
        return f"{key}:{record.get('currency') or '_none'}"

    def score_and_learn(
        self,
        record: Mapping[str, Any],
        on_text: Callable[[str, str], object] | None = None,
    ) -> RecordScore:
        """Score one record, then learn from it unless it looks anomalous.

        ``on_text(field, text)`` is called after each non-empty text field is scored: the
        drift engine queues the text for embedding there, so that an embedding batch that
        completes mid-record already counts for the record's later fields.
        """
        features: dict[str, float] = {}
        get = record.get
        for name in self._numeric_fields:
            value: Any = get(name)
            kind = type(value)  # exact float and int first: JSON's numbers (per record)
            if kind is float:
                features[name] = value
            elif kind is int or (
                value is not None
                # a tuple, not ``int | float``: isinstance() is faster with one
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                features[name] = float(value)
        group_field = self._group_field  # self.group(record), inline: per record
        key = (get(group_field) if group_field else None) or "_none"
        group = f"{key}:{get('currency') or '_none'}"
        numeric = self.numeric
        score = numeric.score_and_learn(group, features) if features else 0.0
        culprit = None
        if score >= self.threshold:
            culprit = max(features, key=lambda n: numeric.score_one(group, {n: features[n]}))
        price = features.get("price")
        product_id = get("product_id")
        if price is not None and product_id and isinstance(product_id, str):
            # against the product's own usual price: a category's prices spread too widely
            currency = get("currency")
            price_key = (product_id, currency if isinstance(currency, str) else None)
            # a record its group finds anomalous teaches the product nothing either (its
            # first price, if absurd, would otherwise become the product's usual)
            learn_below = numeric.learn_below if score < numeric.learn_below else 0.0
            product_score = self.prices.score_and_learn(price_key, price, learn_below)
            if product_score > score:
                score, culprit = product_score, "price"
        centroids = self.centroids
        for field, surprise in self._text_plan:
            text = get(field)
            if not isinstance(text, str) or not text:
                continue
            text_score = surprise.score_and_learn(text) if surprise is not None else 0.0
            centroid = centroids.get(field)
            if centroid is not None:
                text_score = max(text_score, centroid.score_one(text))
            if text_score > score:
                score, culprit = text_score, field
            if on_text is not None:
                on_text(field, text)
        # round(min(1.0, score), 4) without round()'s decimal conversion in the usual
        # cases (0.0 stays itself, -0.0 too; 1.0 and above, and NaN, are 1.0 as min gives)
        if score == 0.0:
            final = score
        elif not score < 1.0:
            final = 1.0
        else:
            final = round(score, 4)
        # RecordScore(...) without its Python-level __new__: a third of the cost.
        return _new_tuple(RecordScore, (final, culprit, group))

    def learn_vectors(
        self, field: str, texts: Sequence[str], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Learn a batch of one field's embedded texts (their novelty scores change)."""
        centroid = self.centroids.get(field)
        if centroid is None:
            centroid = self.centroids[field] = CentroidNovelty(vectors.shape[1])
        centroid.learn_many(texts, vectors)
