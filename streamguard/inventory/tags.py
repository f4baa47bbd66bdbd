"""Meaning tags for a field: what it holds, from its name, its values and (optionally) a model.

A :class:`Tagger` scores each tag of a fixed vocabulary (:data:`TAGS`) for one field
summary (:class:`FieldSummary`, built by the profiler from its sketches and a small sample
of masked values) from three kinds of evidence, cheapest first:

1. the field's **name**: its words (``product_weight_g`` -> product, weight, g; ``wgt``)
   against a list of names and abbreviations per tag, weighed by whether the values fit
   the tag's type (a ``weight`` holds numbers; an ``address`` holds no emails);
2. **value patterns**: PII shares, ISO currency and country codes, RFC 3339 or epoch
   times, URLs, booleans, few distinct strings (``enum``), long texts (``description``);
3. an optional :class:`~streamguard.embed.base.Embedder`: one embedding per field of its
   name words and a few sample values, compared with one prototype text per tag (embedded
   once and kept), so that oddly named fields (``headline``, ``blurb``) are tagged by
   meaning. Fields are embedded in one batch per snapshot, never per record.

The confidence of a tag is the strongest of its evidence, in ``[0, 1]``.

Examples
--------
>>> tagger = Tagger()
>>> summary = FieldSummary(path="wgt", types={"integer": 1.0}, present=100,
...     distinct_estimate=80, numeric={"min": 50.0, "p50": 700.0, "p99": 9000.0, "max": 9500.0})
>>> tagger.tag([summary])[0][0]
{'tag': 'weight', 'confidence': 0.8}
>>> mail = FieldSummary(path="mail_addr", types={"string": 1.0}, present=100,
...     distinct_estimate=100, pii={"email": 1.0}, samples=["[email]"])
>>> tagger.tag([mail])[0][0]
{'tag': 'email', 'confidence': 0.95}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pycountry

if TYPE_CHECKING:
    from streamguard.embed.base import Embedder

__all__ = ["TAGS", "FieldSummary", "Tagger"]

#: The vocabulary, in a fixed order.
TAGS = (
    "identifier",
    "timestamp",
    "price",
    "currency",
    "quantity",
    "weight",
    "dimension",
    "category",
    "title",
    "description",
    "brand",
    "rating",
    "url",
    "email",
    "phone",
    "payment_card",
    "ip_address",
    "person_name",
    "address",
    "country",
    "free_text",
    "enum",
    "boolean",
    "count",
)

#: Tags reported: at most this many per field, each at least :data:`MIN_CONFIDENCE`.
MAX_TAGS = 3
MIN_CONFIDENCE = 0.3

_NUMERIC = ("price", "quantity", "weight", "dimension", "rating", "count")
_TEXT = (
    "currency",
    "category",
    "title",
    "description",
    "brand",
    "url",
    "person_name",
    "address",
    "country",
    "free_text",
)
_PII_TAGS = ("email", "phone", "payment_card", "ip_address")

# Words (whole tokens of the field name) that name each tag.
_NAMES: dict[str, tuple[str, ...]] = {
    "identifier": ("id", "uuid", "guid", "key", "sku", "ref", "uid", "pk"),
    "timestamp": ("ts", "time", "timestamp", "date", "datetime", "created", "updated", "at"),
    "price": ("price", "cost", "amount", "fee", "paid", "msrp", "subtotal", "prc"),
    "currency": ("currency", "ccy", "cur", "curr"),
    "quantity": ("quantity", "qty", "units"),
    "weight": ("weight", "wgt", "wt", "mass", "kg", "grams", "gram", "lbs"),
    "dimension": ("length", "lenght", "width", "height", "depth", "cm", "mm", "dim", "size"),
    "category": ("category", "categories", "cat", "genre", "genres", "department", "dept"),
    "title": ("title", "headline", "heading", "subject"),
    "description": ("description", "desc", "blurb", "summary", "details", "body"),
    "brand": ("brand", "maker", "manufacturer", "vendor", "make"),
    "rating": ("rating", "stars", "score", "rate"),
    "url": ("url", "uri", "link", "href", "website", "homepage"),
    "email": ("email", "mail", "e_mail"),
    "phone": ("phone", "tel", "telephone", "mobile", "cell", "msisdn"),
    "payment_card": ("card", "pan", "cc", "ccnum"),
    "ip_address": ("ip", "ipaddr", "ipv4", "ipv6"),
    "person_name": ("firstname", "lastname", "fullname", "surname", "forename"),
    "address": ("address", "addr", "street", "zip", "postcode", "postal"),
    "country": ("country", "nation"),
    "free_text": ("text", "comment", "note", "notes", "message", "review", "query"),
    "enum": ("status", "state", "type", "kind", "op", "platform", "mode"),
    "boolean": ("is", "has", "flag", "enabled", "active"),
    "count": ("count", "num", "number", "photos", "views", "clicks", "n"),
}
_NAME_TO_TAGS: dict[str, list[str]] = {}
for _tag, _words in _NAMES.items():
    for _word in _words:
        _NAME_TO_TAGS.setdefault(_word, []).append(_tag)

# One sentence per tag for the embedding model.
_PROTOTYPES: dict[str, str] = {
    "identifier": "identifier: a unique id or key of a record",
    "timestamp": "timestamp: the date and time when an event happened",
    "price": "price: the cost or amount of money paid for a product",
    "currency": "currency: the currency code of a price, such as USD or EUR",
    "quantity": "quantity: how many units were ordered",
    "weight": "weight: how heavy the product is, in grams or kilograms",
    "dimension": "dimension: the length, width or height of a product in centimetres",
    "category": "category: the product category or genre, a department path",
    "title": "title: the short name or headline of a product, a book or a movie",
    "description": "description: a long text describing a product and its features",
    "brand": "brand: the manufacturer or maker of a product",
    "rating": "rating: the stars or score a user gave",
    "url": "url: a web link address",
    "email": "email: an e-mail address of a person",
    "phone": "phone: a telephone number",
    "payment_card": "payment card: a credit card number",
    "ip_address": "ip address: a network address of a computer",
    "person_name": "person name: the first and last name of a person",
    "address": "address: a street address, city and postal code",
    "country": "country: the name or code of a country",
    "free_text": "free text: a comment, a message or a search query typed by a user",
    "enum": "enum: one of a few fixed values, a status or a type",
    "boolean": "boolean: true or false, yes or no",
    "count": "count: a number of things, a count",
}

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_URL = re.compile(r"^(?:https?|ftp)://\S+$", re.IGNORECASE)
_CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
_COUNTRIES = frozenset(
    name.lower()
    for c in pycountry.countries
    for name in (c.alpha_2, c.alpha_3, c.name, getattr(c, "common_name", c.name))
)
_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "y", "n"})


@dataclass
class FieldSummary:
    """What the tagger sees of one field (built from the profiler's sketches)."""

    path: str
    types: dict[str, float]
    present: int
    distinct_estimate: float
    numeric: dict[str, float] | None = None
    pii: dict[str, float] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # masked string values
    mean_words: float = 0.0


def name_words(path: str) -> list[str]:
    """The words of a path's last segment: ``productWeight_g`` -> product, weight, g.

    >>> name_words("attributes.productWeight_g"), name_words("tags[]")
    (['product', 'weight', 'g'], ['tags'])
    """
    last = path.rsplit(".", 1)[-1].replace("[]", "")
    return [w.lower() for w in _SPLIT.split(_CAMEL.sub("_", last)) if w]


def _share(samples: Sequence[str], test: Callable[[str], bool]) -> float:
    return sum(1 for s in samples if test(s)) / len(samples) if samples else 0.0


def _fits(tag: str, s: FieldSummary) -> float:
    """How well the field's value types fit a tag (0..1)."""
    numeric = s.types.get("integer", 0.0) + s.types.get("float", 0.0)
    text = s.types.get("string", 0.0)
    pii = max(s.pii.values(), default=0.0)
    if tag in _NUMERIC:
        return numeric
    if tag in _PII_TAGS:
        return 0.6 + 0.4 * s.pii.get(tag, 0.0)
    if tag in _TEXT:
        return text * (1.0 - pii)
    if tag == "boolean":
        return s.types.get("boolean", 0.0) + text
    if tag == "identifier":
        return (numeric + text) * (1.0 - pii)
    return 1.0 - pii


def _value_evidence(s: FieldSummary) -> dict[str, float]:
    """Tags the values alone suggest, with a confidence."""
    out: dict[str, float] = {}
    text = s.types.get("string", 0.0)
    integer = s.types.get("integer", 0.0)
    numeric = integer + s.types.get("float", 0.0)
    for kind in _PII_TAGS:
        share = s.pii.get(kind, 0.0)
        if share >= 0.3:
            out[kind] = 0.95 * share
    samples = s.samples
    if s.types.get("boolean", 0.0) > 0.5:
        out["boolean"] = s.types["boolean"]
    if text > 0.5 and samples:
        times = _share(samples, lambda v: _ISO_TIME.match(v) is not None)
        if times > 0.5:
            out["timestamp"] = 0.9 * times
        urls = _share(samples, lambda v: _URL.match(v) is not None)
        if urls > 0.5:
            out["url"] = 0.9 * urls
        curr = _share(samples, lambda v: v in _CURRENCIES)
        if curr > 0.8:
            out["currency"] = 0.85 * curr
        countries = _share(samples, lambda v: v.lower() in _COUNTRIES)
        if countries > 0.8 and len(samples) >= 3 and "currency" not in out:
            out["country"] = 0.7 * countries
        bools = _share(samples, lambda v: v.lower() in _BOOL_WORDS)
        if bools > 0.9:
            out["boolean"] = 0.8
        paths = _share(samples, lambda v: "/" in v or " > " in v)
        if paths > 0.5 and "url" not in out:
            out["category"] = 0.6 * paths
        if s.mean_words >= 12:
            out["description"] = 0.6
            out["free_text"] = 0.5
        elif 2 <= s.mean_words < 12 and s.distinct_estimate >= 0.3 * s.present:
            out["title"] = 0.35
        if s.distinct_estimate <= 30 and s.present >= 20 and s.mean_words < 4:
            out["enum"] = 0.6
    if s.present >= 20 and s.distinct_estimate >= 0.95 * s.present and s.mean_words <= 1:
        if text > 0.8 or integer > 0.8:
            out["identifier"] = 0.55
    if numeric > 0.8 and s.numeric is not None:
        low, high = s.numeric["min"], s.numeric["max"]
        if integer > 0.9 and (1e9 <= low and high <= 4.2e9 or 1e12 <= low and high <= 4.2e12):
            out["timestamp"] = 0.7
        elif integer > 0.9 and 0 <= low and high <= 1000 and s.distinct_estimate <= 100:
            out["count"] = 0.35
    return out


class Tagger:
    """Scores the vocabulary for fields; with an ``embedder``, also by meaning.

    Holds a cache of the prototype embeddings (computed on first use).
    """

    def __init__(self, embedder: Embedder | None = None, embed_weight: float = 0.9) -> None:
        self.embedder = embedder
        self.embed_weight = embed_weight
        self._prototypes: Any = None

    def _embed_scores(self, summaries: Sequence[FieldSummary]) -> list[dict[str, float]]:
        if self.embedder is None or not summaries:
            return [{} for _ in summaries]
        if self._prototypes is None:
            self._prototypes = self.embedder.embed([_PROTOTYPES[t] for t in TAGS])
        texts = [
            " ".join(name_words(s.path)) + ": " + ", ".join(v[:80] for v in s.samples[:5])
            for s in summaries
        ]
        sims = np.asarray(self.embedder.embed(texts)) @ np.asarray(self._prototypes).T
        out = []
        for row in sims:
            scores = {}
            for tag, sim in zip(TAGS, row, strict=True):
                score = (float(sim) - 0.25) / 0.45  # cosine 0.25 -> 0, 0.7 -> 1
                if score > 0:
                    scores[tag] = min(1.0, score) * self.embed_weight
            out.append(scores)
        return out

    def tag(self, summaries: Sequence[FieldSummary]) -> list[list[dict[str, Any]]]:
        """For each summary, ``[{"tag", "confidence"}]``, best first (at most 3)."""
        result = []
        for s, embedded in zip(summaries, self._embed_scores(summaries), strict=True):
            scores: dict[str, float] = {}
            words = name_words(s.path)
            exact = "_".join(words)
            for i, word in enumerate(words):
                # the last word names the thing most often (product_weight_g: weight)
                base = 0.8 if word in _NAMES.get(exact, ()) or len(words) == 1 else 0.7
                base -= 0.05 * (len(words) - 1 - i > 1)
                for tag in _NAME_TO_TAGS.get(word, ()):
                    scores[tag] = max(scores.get(tag, 0.0), base * _fits(tag, s))
            for tag, value in _value_evidence(s).items():
                scores[tag] = max(scores.get(tag, 0.0), value)
            for tag, value in embedded.items():
                scores[tag] = max(scores.get(tag, 0.0), value * _fits(tag, s))
            ranked = sorted(scores.items(), key=lambda kv: (-kv[1], TAGS.index(kv[0])))
            result.append(
                [
                    {"tag": tag, "confidence": round(conf, 2)}
                    for tag, conf in ranked[:MAX_TAGS]
                    if conf >= MIN_CONFIDENCE
                ]
            )
        return result
