"""Replay real datasets (MovieLens, Olist) from ``../shared/data`` as StreamGuard events.

The files are read where they lie, at run time (the MovieLens zip is read with
:mod:`zipfile`, never extracted); nothing is copied into the repository.

Mappings
--------
``movielens-ratings`` (behaviour, ordered by timestamp, then file row)
    ``event_id`` ``ml-r-<row>`` (1-based data row of ratings.csv), ``user_id`` the
    MovieLens userId as a string, ``product_id`` ``ml-<movieId>``, ``event_type`` from the
    rating: >= 4.5 purchase, 4.0 add_to_cart, 3.0-3.5 click, lower view; add_to_cart and
    purchase carry ``price`` (:func:`movie_price`), ``currency`` USD and ``quantity`` 1;
    ``ts`` epoch millis; ``session_id`` ``ml-s-<userId>-<UTC day>``; ``platform`` web; the
    rating itself as an extra ``rating`` field.
``movielens-movies`` (product)
    ``product_id`` ``ml-<movieId>``, ``title``, ``category`` ``movies/<first genre>``
    (absent for "(no genres listed)"), ``attributes`` ``{"genres": [...], "year": int|None}``,
    ``price`` as above, ``currency`` USD.
``olist-products`` (product)
    ``product_id``, ``category`` the English name where the translation table has one,
    else the raw Portuguese name, absent when empty; ``attributes``: ``weight_g``,
    ``length_cm``, ``height_cm``, ``width_cm``, ``photos_qty``, ``name_length``,
    ``description_length``, each absent when empty in the CSV.

Examples
--------
>>> movie_price(1), movie_price(17)
(3.99, 2.99)
>>> rating_event_type(4.5), rating_event_type(4.0), rating_event_type(3.5), rating_event_type(2.0)
('purchase', 'add_to_cart', 'click', 'view')
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamguard.sources.faults import FaultInjector, FaultMix, GeneratedRecord, Stream
from streamguard.sources.synthetic import format_ts

__all__ = [
    "DATASETS",
    "DataNotFoundError",
    "Dataset",
    "default_data_dir",
    "movie_price",
    "movielens_movies",
    "movielens_ratings",
    "olist_products",
    "rating_event_type",
    "replay",
    "resolve_data_dir",
]

MOVIELENS_ZIP = Path("movielens") / "ml-latest-small.zip"
OLIST_PRODUCTS = Path("olist") / "olist_products_dataset.csv"
OLIST_TRANSLATION = Path("olist") / "product_category_name_translation.csv"
#: Product events of the catalogues have no time of their own: they start here.
MOVIES_EPOCH_MS = int(datetime(2018, 9, 26, tzinfo=UTC).timestamp() * 1000)
OLIST_EPOCH_MS = int(datetime(2018, 9, 3, tzinfo=UTC).timestamp() * 1000)
_YEAR = re.compile(r"\((\d{4})\)\s*$")
# attribute name -> candidate CSV columns (the public Olist file spells "lenght")
_OLIST_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "weight_g": ("product_weight_g",),
    "length_cm": ("product_length_cm",),
    "height_cm": ("product_height_cm",),
    "width_cm": ("product_width_cm",),
    "photos_qty": ("product_photos_qty",),
    "name_length": ("product_name_lenght", "product_name_length"),
    "description_length": ("product_description_lenght", "product_description_length"),
}


class DataNotFoundError(FileNotFoundError):
    """The shared data folder, or a file in it, is not where it should be."""


def default_data_dir() -> Path:
    """``shared/data`` next to the repository root (``<repo>/../shared/data``)."""
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data"


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The data folder to read: ``data_dir`` or the default; raises when it is absent."""
    candidates = [Path(data_dir)] if data_dir is not None else [default_data_dir()]
    if data_dir is None:
        candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"dataset folder not found (tried {tried}); pass --data-dir pointing at shared/data"
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataNotFoundError(f"dataset file not found: {path}")
    return path


def movie_price(movie_id: int) -> float:
    """The synthetic, deterministic price of a MovieLens movie (USD)."""
    return round(2.99 + movie_id % 17, 2)


def rating_event_type(rating: float) -> str:
    """The behaviour event type a MovieLens rating stands for."""
    if rating >= 4.5:
        return "purchase"
    if rating >= 4.0:
        return "add_to_cart"
    if rating >= 3.0:
        return "click"
    return "view"


def _movielens_csv(data_dir: Path, name: str) -> Iterator[dict[str, str]]:
    with zipfile.ZipFile(_require(data_dir / MOVIELENS_ZIP)) as archive:
        member = next((n for n in archive.namelist() if n.endswith("/" + name)), None)
        if member is None:
            raise DataNotFoundError(f"{name} not found in {data_dir / MOVIELENS_ZIP}")
        with archive.open(member) as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def movielens_ratings(data_dir: Path) -> Iterator[dict[str, Any]]:
    """MovieLens ratings as clean behaviour events, in timestamp order."""
    rows = []
    for row_number, row in enumerate(_movielens_csv(data_dir, "ratings.csv"), start=1):
        rows.append((int(row["timestamp"]), row_number, row))
    rows.sort(key=lambda item: (item[0], item[1]))
    for timestamp, row_number, row in rows:
        movie_id, rating = int(row["movieId"]), float(row["rating"])
        event_type = rating_event_type(rating)
        day = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y%m%d")
        event: dict[str, Any] = {
            "event_id": f"ml-r-{row_number}",
            "event_type": event_type,
            "user_id": row["userId"],
            "session_id": f"ml-s-{row['userId']}-{day}",
            "product_id": f"ml-{movie_id}",
        }
        if event_type in ("add_to_cart", "purchase"):
            event.update(price=movie_price(movie_id), currency="USD", quantity=1)
        event.update(ts=timestamp * 1000, platform="web", schema_version=1, rating=rating)
        yield event


def movielens_movies(data_dir: Path) -> Iterator[dict[str, Any]]:
    """MovieLens movies as clean product events (upserts), in file order."""
    for row_number, row in enumerate(_movielens_csv(data_dir, "movies.csv"), start=1):
        movie_id = int(row["movieId"])
        title = row["title"].strip()
        genres = [] if row["genres"] == "(no genres listed)" else row["genres"].split("|")
        year = _YEAR.search(title)
        event: dict[str, Any] = {
            "event_id": f"ml-m-{row_number}",
            "product_id": f"ml-{movie_id}",
            "op": "upsert",
            "title": title,
        }
        if genres:
            event["category"] = f"movies/{genres[0].lower()}"
        event.update(
            price=movie_price(movie_id),
            currency="USD",
            attributes={"genres": genres, "year": int(year.group(1)) if year else None},
            ts=format_ts(MOVIES_EPOCH_MS + row_number * 1000),
            schema_version=1,
        )
        yield event


def _number(text: str) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def olist_products(data_dir: Path) -> Iterator[dict[str, Any]]:
    """Olist products as clean product events (upserts), in file order."""
    translation: dict[str, str] = {}
    with _require(data_dir / OLIST_TRANSLATION).open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            translation[row["product_category_name"]] = row["product_category_name_english"]
    with _require(data_dir / OLIST_PRODUCTS).open(encoding="utf-8-sig", newline="") as fh:
        for row_number, row in enumerate(csv.DictReader(fh), start=1):
            event: dict[str, Any] = {
                "event_id": f"olist-p-{row_number}",
                "product_id": row["product_id"],
                "op": "upsert",
            }
            raw_category = (row.get("product_category_name") or "").strip()
            if raw_category:
                event["category"] = translation.get(raw_category, raw_category)
            attributes: dict[str, Any] = {}
            for name, columns in _OLIST_ATTRIBUTES.items():
                value = next((_number(row[c] or "") for c in columns if c in row), None)
                if value is not None:
                    attributes[name] = value
            event.update(
                attributes=attributes,
                ts=format_ts(OLIST_EPOCH_MS + row_number * 1000),
                schema_version=1,
            )
            yield event


@dataclass(frozen=True)
class Dataset:
    """A replayable dataset: the stream it feeds and how to read it."""

    name: str
    stream: Stream
    read: Callable[[Path], Iterator[dict[str, Any]]]
    #: Fault kinds its records cannot carry (no such field), left out of uniform mixes.
    inapplicable_faults: tuple[str, ...] = ()


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("movielens-ratings", "behavior", movielens_ratings),
        Dataset("movielens-movies", "product", movielens_movies, ("negative_stock",)),
        Dataset(
            "olist-products",
            "product",
            olist_products,
            ("negative_stock", "price_as_string", "negative_price", "currency_case"),
        ),
    )
}


def replay(
    dataset: str,
    *,
    data_dir: Path | str | None = None,
    limit: int | None = None,
    seed: int = 0,
    faults: FaultMix | None = None,
    injector: FaultInjector | None = None,
) -> Iterator[GeneratedRecord]:
    """Yield the records of ``dataset`` (at most ``limit``), with optional fault injection.

    Raises :class:`DataNotFoundError` (before yielding anything) when the data is absent
    and ``KeyError`` for an unknown dataset name.
    """
    spec = DATASETS.get(dataset)
    if spec is None:
        raise KeyError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    folder = resolve_data_dir(data_dir)
    files = [MOVIELENS_ZIP] if dataset.startswith("movielens") else [OLIST_PRODUCTS]
    for name in files:
        _require(folder / name)
    if injector is None:
        injector = FaultInjector(faults, seed=seed)
    return _replay(spec, folder, limit, injector)


def _replay(
    spec: Dataset, folder: Path, limit: int | None, injector: FaultInjector
) -> Iterator[GeneratedRecord]:
    for count, event in enumerate(spec.read(folder)):
        if limit is not None and count >= limit:
            return
        yield injector.inject(spec.stream, event)
