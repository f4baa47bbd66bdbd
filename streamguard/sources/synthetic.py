"""A seeded generator of realistic e-commerce behaviour and product events.

Users (Zipf-distributed activity) browse a synthetic catalogue (Zipf popularity) in
sessions that follow a funnel: search / view -> click -> add_to_cart -> purchase. Views
dominate, as they do in real click streams. Event time advances from a fixed start by
exponential gaps, so the same seed always gives the same bytes; nothing reads the wall
clock.

Examples
--------
>>> records = list(generate("behavior", 3, seed=1))
>>> records == list(generate("behavior", 3, seed=1))
True
>>> import orjson
>>> first = orjson.loads(records[0].value)
>>> first["schema_version"], first["event_type"] in EVENT_TYPES, records[0].expected
(1, True, 'valid')
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from streamguard.sources.faults import (
    DEFAULT_TOO_LARGE_BYTES,
    FaultInjector,
    FaultMix,
    GeneratedRecord,
    Stream,
)

__all__ = [
    "DEFAULT_START",
    "EVENT_TYPES",
    "PLATFORMS",
    "BehaviorSimulator",
    "Catalogue",
    "EventClock",
    "Product",
    "ProductSimulator",
    "format_ts",
    "generate",
]

#: Where synthetic event time starts unless told otherwise.
DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)
EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "search")
PLATFORMS = ("web", "ios", "android")
_MARKETS = (("USD", 1.0, 0.6), ("EUR", 0.92, 0.25), ("BRL", 5.0, 0.15))

# category path -> (brands, nouns, (min price, max price))
_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[float, float]]] = {
    "electronics/phones": (("Zentek", "Orbis", "Novatel"), ("smartphone", "phone"), (150, 1200)),
    "electronics/headphones": (("Kestrel", "Sonara"), ("headphones", "earbuds"), (20, 350)),
    "electronics/laptops": (("Orbis", "Quanta", "Lumen"), ("laptop", "notebook"), (400, 2500)),
    "home/kitchen": (("Casa", "Ferro", "Brisa"), ("blender", "kettle", "toaster"), (15, 200)),
    "home/furniture": (("Nordhem", "Casa"), ("desk chair", "bookshelf", "side table"), (40, 600)),
    "fashion/shoes": (("Stride", "Pace"), ("running shoes", "sneakers", "boots"), (30, 220)),
    "fashion/apparel": (("Loom", "Tide"), ("t-shirt", "hoodie", "jacket", "jeans"), (10, 180)),
    "beauty/skincare": (("Lumi", "Aster"), ("moisturizer", "serum", "sunscreen"), (5, 80)),
    "sports/outdoor": (("Summit", "Trailhead"), ("tent", "backpack", "water bottle"), (10, 400)),
    "books/fiction": (("Inkwell", "Paperleaf"), ("novel", "paperback"), (5, 30)),
    "toys/games": (("Playmore", "Kubo"), ("board game", "puzzle", "building set"), (10, 120)),
    "grocery/snacks": (("Harvest", "Mesa"), ("granola", "coffee beans", "green tea"), (2, 25)),
}
_ADJECTIVES = ("wireless", "compact", "premium", "classic", "ultra", "eco", "smart", "pro")
_COLORS = ("black", "white", "red", "blue", "green", "grey", "silver")

# funnel: last event type -> [(next event type | "end", weight)]
_NEXT: dict[str | None, tuple[tuple[str, float], ...]] = {
    None: (("view", 0.75), ("search", 0.25)),
    "search": (("view", 0.85), ("search", 0.10), ("end", 0.05)),
    "view": (("view", 0.52), ("click", 0.25), ("search", 0.06), ("end", 0.17)),
    "click": (("add_to_cart", 0.30), ("view", 0.50), ("end", 0.20)),
    "add_to_cart": (("view", 0.35), ("purchase", 0.35), ("remove_from_cart", 0.10), ("end", 0.20)),
    "remove_from_cart": (("view", 0.60), ("purchase", 0.15), ("end", 0.25)),
    "purchase": (("view", 0.30), ("end", 0.70)),
}


def format_ts(millis: int) -> str:
    """RFC 3339 UTC with milliseconds and a ``Z``.

    >>> format_ts(1_793_491_200_123)
    '2026-11-01T00:00:00.123Z'
    """
    seconds, ms = divmod(millis, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def _zipf_cumulative(n: int, exponent: float) -> list[float]:
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class EventClock:
    """Event time in epoch millis, advanced by exponential gaps (shared by streams)."""

    def __init__(self, rng: random.Random, start_ms: int, mean_gap_ms: float) -> None:
        self._rng = rng
        self._now = float(start_ms)
        self._rate = 1.0 / mean_gap_ms if mean_gap_ms > 0 else 0.0

    def tick(self) -> int:
        """Advance and return the new time."""
        if self._rate:
            self._now += self._rng.expovariate(self._rate)
        return int(self._now)


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue entry (the product's list price is in USD)."""

    product_id: str
    title: str
    description: str
    category: str
    brand: str
    price: float
    noun: str
    attributes: dict[str, Any]


class Catalogue:
    """A seeded synthetic catalogue with Zipf-distributed popularity.

    Examples
    --------
    >>> cat = Catalogue(seed=3, size=50)
    >>> len(cat.products), cat.products[0].product_id
    (50, 'p00000')
    >>> cat.pick(random.Random(0)).category.count("/")
    1
    """

    def __init__(self, seed: int, size: int = 2000, exponent: float = 0.9) -> None:
        rng = random.Random(f"{seed}:catalogue")  # noqa: S311 - test data, not crypto
        paths = sorted(_CATEGORIES)
        self.products: list[Product] = []
        for i in range(size):
            path = rng.choice(paths)
            brands, nouns, (low, high) = _CATEGORIES[path]
            brand, noun, adj, color = (rng.choice(x) for x in (brands, nouns, _ADJECTIVES, _COLORS))
            price = round(min(high, max(low, rng.lognormvariate(0, 0.6) * (low + high) / 3)), 2)
            attributes: dict[str, Any] = {"color": color, "weight_g": rng.randint(50, 5000)}
            if path.startswith("fashion/"):
                attributes["size"] = rng.choice(("S", "M", "L", "XL", "40", "42", "44"))
            title = f"{brand} {adj.title()} {noun.title()} {rng.choice('XSQ')}{rng.randint(1, 9)}"
            self.products.append(
                Product(
                    product_id=f"p{i:05d}",
                    title=title,
                    description=f"A {adj} {color} {noun} by {brand}.",
                    category=path,
                    brand=brand,
                    price=float(price),
                    noun=noun,
                    attributes=attributes,
                )
            )
        self._order = list(range(size))
        rng.shuffle(self._order)  # popularity rank is unrelated to the id
        self._cumulative = _zipf_cumulative(size, exponent)

    def pick(self, rng: random.Random) -> Product:
        """A product drawn by popularity."""
        return self.products[self._order[_pick(rng, self._cumulative)]]


@dataclass(eq=False)
class _Session:
    user_id: str
    session_id: str
    platform: str
    currency: str
    fx: float
    last: str | None = None
    product: Product | None = None
    cart: list[tuple[Product, int]] = field(default_factory=list)


class BehaviorSimulator:
    """Interleaved user sessions producing clean behaviour events (dicts)."""

    def __init__(
        self,
        seed: int,
        catalogue: Catalogue,
        clock: EventClock,
        *,
        users: int = 5000,
        concurrent_sessions: int = 40,
    ) -> None:
        self._seed = seed
        self._rng = random.Random(f"{seed}:behavior")  # noqa: S311 - test data, not crypto
        self._catalogue = catalogue
        self._clock = clock
        self._users = _zipf_cumulative(users, 0.8)
        self._concurrent = concurrent_sessions
        self._sessions: list[_Session] = []
        self._markets = [m[:2] for m in _MARKETS]
        self._market_weights = list(accumulate(m[2] for m in _MARKETS))

    def _new_session(self) -> _Session:
        rng = self._rng
        user = _pick(rng, self._users)
        user_rng = random.Random(f"{self._seed}:user:{user}")  # noqa: S311 - a user's fixed traits
        currency, fx = self._markets[_pick(user_rng, self._market_weights)]
        platform = user_rng.choices(PLATFORMS, weights=(0.45, 0.3, 0.25))[0]
        session = _Session(f"u{user}", f"s-{rng.getrandbits(48):012x}", platform, currency, fx)
        self._sessions.append(session)
        return session

    def _choose(self, session: _Session) -> str:
        options = _NEXT[session.last]
        kind = self._rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]
        if kind in ("purchase", "remove_from_cart") and not session.cart:
            kind = "view"
        if kind in ("click", "add_to_cart") and session.product is None:
            kind = "view"
        return kind

    def next_event(self) -> dict[str, Any]:
        """The next clean behaviour event."""
        rng = self._rng
        if len(self._sessions) < self._concurrent:
            session = self._new_session()
        else:
            index = rng.randrange(len(self._sessions))
            session = self._sessions[index]
        kind = self._choose(session)
        if kind == "end":
            self._sessions[index] = self._sessions[-1]
            self._sessions.pop()
            session = self._new_session()
            kind = self._choose(session)
        session.last = kind
        return self._event(session, kind)

    def _event(self, session: _Session, kind: str) -> dict[str, Any]:
        rng = self._rng
        event: dict[str, Any] = {
            "event_id": _uuid(rng),
            "event_type": kind,
            "user_id": session.user_id,
            "session_id": session.session_id,
        }
        product: Product | None = None
        quantity: int | None = None
        if kind == "search":
            sample = self._catalogue.pick(rng)
            words = (rng.choice(_ADJECTIVES), sample.brand.lower(), "cheap", "best")
            event["query"] = f"{rng.choice(words)} {sample.noun}"
            session.product = None
        elif kind == "view":
            product = self._catalogue.pick(rng)
            session.product = product
        elif kind == "click":
            product = session.product
        elif kind == "add_to_cart":
            product = session.product
            quantity = rng.choices((1, 2, 3), weights=(0.85, 0.1, 0.05))[0]
            session.cart.append((product, quantity))  # type: ignore[arg-type]
        else:  # purchase / remove_from_cart: a cart item
            product, quantity = session.cart.pop(rng.randrange(len(session.cart)))
        if product is not None:
            event["product_id"] = product.product_id
            if quantity is not None or rng.random() < 0.4:
                event["price"] = round(product.price * session.fx, 2)
                event["currency"] = session.currency
            if quantity is not None:
                event["quantity"] = quantity
        millis = self._clock.tick()
        event["ts"] = format_ts(millis) if session.platform == "web" else millis
        event["platform"] = session.platform
        event["schema_version"] = 1
        return event


class ProductSimulator:
    """Catalogue upserts (every product once, in id order), then updates and rare deletes."""

    def __init__(self, seed: int, catalogue: Catalogue, clock: EventClock) -> None:
        self._rng = random.Random(f"{seed}:product")  # noqa: S311 - test data, not crypto
        self._catalogue = catalogue
        self._clock = clock
        self._next_new = 0
        self._price = {p.product_id: p.price for p in catalogue.products}
        self._stock = {p.product_id: self._rng.randint(0, 500) for p in catalogue.products}
        self._deleted: set[str] = set()

    def next_event(self) -> dict[str, Any]:
        """The next clean product event."""
        rng = self._rng
        products = self._catalogue.products
        if self._next_new < len(products):
            product = products[self._next_new]
            self._next_new += 1
        else:
            product = self._catalogue.pick(rng)
            pid = product.product_id
            if pid not in self._deleted and rng.random() < 0.01:
                self._deleted.add(pid)
                return self._stamp({"event_id": _uuid(rng), "product_id": pid, "op": "delete"}, rng)
            self._deleted.discard(pid)
            if rng.random() < 0.4:
                self._price[pid] = round(self._price[pid] * rng.uniform(0.9, 1.1), 2)
            self._stock[pid] = max(0, self._stock[pid] + rng.randint(-20, 30))
        pid = product.product_id
        event = {
            "event_id": _uuid(rng),
            "product_id": pid,
            "op": "upsert",
            "title": product.title,
            "description": product.description,
            "category": product.category,
            "brand": product.brand,
            "price": self._price[pid],
            "currency": "USD",
            "stock": self._stock[pid],
            "attributes": dict(product.attributes),
        }
        return self._stamp(event, rng)

    def _stamp(self, event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        millis = self._clock.tick()
        event["ts"] = format_ts(millis) if rng.random() < 0.5 else millis
        event["schema_version"] = 1
        return event


def _start_ms(start: datetime | int | None) -> int:
    if start is None:
        start = DEFAULT_START
    if isinstance(start, datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return int(start.timestamp() * 1000)
    return int(start)


def generate(
    stream: str,
    count: int | None,
    *,
    seed: int,
    faults: FaultMix | None = None,
    start: datetime | int | None = None,
    mean_gap_ms: float = 10.0,
    product_share: float = 0.1,
    catalogue_size: int = 2000,
    users: int = 5000,
    too_large_bytes: int = DEFAULT_TOO_LARGE_BYTES,
    injector: FaultInjector | None = None,
) -> Iterator[GeneratedRecord]:
    """Yield ``count`` records (forever when ``None``) of ``behavior``, ``product`` or ``both``.

    Deterministic for a ``seed``: same arguments, same bytes. ``start`` is the first event
    time (a datetime or epoch millis; default :data:`DEFAULT_START`), ``mean_gap_ms`` the
    mean event-time gap between records. With ``both``, about ``product_share`` of the
    records are product events. Pass ``injector`` instead of ``faults`` to read its
    counters afterwards.
    """
    if stream not in ("behavior", "product", "both"):
        raise ValueError(f"unknown stream {stream!r}; expected behavior, product or both")
    if count is not None and count < 0:
        raise ValueError("count must be >= 0")
    if injector is None:
        injector = FaultInjector(faults, seed=seed, too_large_bytes=too_large_bytes)
    rng = random.Random(f"{seed}:streams")  # noqa: S311 - test data, not crypto
    clock = EventClock(random.Random(f"{seed}:clock"), _start_ms(start), mean_gap_ms)  # noqa: S311
    catalogue = Catalogue(seed, catalogue_size)
    behavior = BehaviorSimulator(seed, catalogue, clock, users=users)
    products = ProductSimulator(seed, catalogue, clock)
    produced = 0
    while count is None or produced < count:
        if stream == "both":
            which: Stream = "product" if rng.random() < product_share else "behavior"
        else:
            which = "product" if stream == "product" else "behavior"
        event = products.next_event() if which == "product" else behavior.next_event()
        yield injector.inject(which, event)
        produced += 1
