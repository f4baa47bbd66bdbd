"""Meaning tags on oddly named fields, from names, value patterns and an embedder."""

from __future__ import annotations

import random
from collections.abc import Sequence

from streamguard.embed.base import Vectors
from streamguard.embed.hashing import HashingEmbedder
from streamguard.inventory import StreamProfile, Tagger


def best_tags(records: list[dict[str, object]], tagger: Tagger | None = None) -> dict[str, str]:
    profile = StreamProfile("s")
    for record in records:
        profile.learn_one(record)
    return {
        f["path"]: f["tags"][0]["tag"] if f["tags"] else "-"
        for f in profile.snapshot(tagger)["fields"]
    }


def test_oddly_named_fields() -> None:
    rng = random.Random(7)
    records = [
        {
            "wgt": rng.randint(50, 9000),
            "mail_addr": f"user{i}@example.com",
            "cost_amount": round(rng.uniform(1, 500), 2),
            "ccy": rng.choice(["USD", "EUR", "BRL"]),
            "created": 1_793_491_200_000 + i,
            "when": f"2026-11-01T00:{i % 60:02d}:00Z",
            "contact": f"+44 20 7946 {i:04d}",
            "homepage": f"https://shop.example/{i}",
            "sku": f"p{i:05d}",
            "state": rng.choice(["new", "paid", "shipped"]),
            "is_gift": rng.random() < 0.2,
        }
        for i in range(200)
    ]
    tags = best_tags(records)
    assert tags == {
        "ccy": "currency",
        "contact": "phone",
        "cost_amount": "price",
        "created": "timestamp",
        "homepage": "url",
        "is_gift": "boolean",
        "mail_addr": "email",
        "sku": "identifier",
        "state": "enum",
        "wgt": "weight",
        "when": "timestamp",
    }


class _Meaning:
    """A fake embedder that knows headline ~ title and blurb ~ description."""

    dim = 64

    def __init__(self) -> None:
        self._inner = HashingEmbedder(dim=64)
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        synonyms = {"headline": "title", "blurb": "description"}
        return self._inner.embed([" ".join(synonyms.get(w, w) for w in t.split()) for t in texts])


def test_embedder_tags_by_meaning_in_one_batch() -> None:
    records: list[dict[str, object]] = [
        {"hdr": "Acme red shoes", "xq": f"free text {i}"} for i in range(30)
    ]
    records += [{"headline": f"item {i}", "blurb": "words " * 3} for i in range(30)]
    embedder = _Meaning()
    tagger = Tagger(embedder)
    tags = best_tags(records, tagger)
    assert tags["headline"] == "title" and tags["blurb"] == "description"
    assert embedder.calls == 2  # the prototypes once, then every field in one batch
    best_tags(records, tagger)
    assert embedder.calls == 3  # prototypes cached
