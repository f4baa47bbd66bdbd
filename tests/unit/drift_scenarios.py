"""Scenario streams for the drift and anomaly tests: controls and injected drifts.

Each scenario is a list of raw JSON-lines values (bytes) plus, for drifts, the index of
the first drifted record. Built at run time from the synthetic generator and from
``../shared/data`` (MovieLens, Olist); nothing is stored in the repository.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from streamguard.sources.replay import movielens_movies, olist_products, resolve_data_dir
from streamguard.sources.synthetic import generate

Record = dict[str, Any]

# A small English -> Portuguese glossary of the generator's vocabulary (language switch).
_PT = {
    "smartphone": "celular",
    "phone": "telefone",
    "headphones": "fones de ouvido",
    "earbuds": "fones intra-auriculares",
    "laptop": "computador portátil",
    "notebook": "caderno",
    "blender": "liquidificador",
    "kettle": "chaleira elétrica",
    "toaster": "torradeira",
    "desk chair": "cadeira de escritório",
    "bookshelf": "estante de livros",
    "side table": "mesa lateral",
    "running shoes": "tênis de corrida",
    "sneakers": "tênis casual",
    "boots": "botas de couro",
    "t-shirt": "camiseta",
    "hoodie": "moletom com capuz",
    "jacket": "jaqueta",
    "jeans": "calça jeans",
    "moisturizer": "hidratante facial",
    "serum": "sérum",
    "sunscreen": "protetor solar",
    "tent": "barraca de acampamento",
    "backpack": "mochila",
    "water bottle": "garrafa de água",
    "novel": "romance",
    "paperback": "livro de bolso",
    "board game": "jogo de tabuleiro",
    "puzzle": "quebra-cabeça",
    "building set": "kit de montar",
    "granola": "granola",
    "coffee beans": "café em grãos",
    "green tea": "chá verde",
    "wireless": "sem fio",
    "compact": "compacto",
    "premium": "de luxo",
    "classic": "clássico",
    "ultra": "ultra resistente",
    "eco": "ecológico",
    "smart": "inteligente",
    "pro": "profissional",
    "black": "preto",
    "white": "branco",
    "red": "vermelho",
    "blue": "azul",
    "green": "verde",
    "grey": "cinza",
    "silver": "prateado",
}
_LONGEST_FIRST = sorted(map(re.escape, _PT), key=len, reverse=True)
_PT_WORDS = re.compile(r"\b(" + "|".join(_LONGEST_FIRST) + r")\b")


def to_portuguese(text: str) -> str:
    """Word-by-word Portuguese of a generated title or description (brands kept)."""
    text = _PT_WORDS.sub(lambda m: _PT[m.group(1)], text.lower())
    if text.startswith("a "):
        text = "um " + text[2:]
    return text.replace(" by ", " da marca ")


def synthetic_products(count: int, seed: int = 11) -> list[Record]:
    """Clean synthetic product events (catalogue upserts first, then updates)."""
    return [orjson.loads(r.value) for r in generate("product", count, seed=seed)]


def synthetic_behavior(count: int, seed: int = 11) -> list[Record]:
    """Clean synthetic behaviour events (interleaved sessions)."""
    return [orjson.loads(r.value) for r in generate("behavior", count, seed=seed)]


def olist(limit: int | None = None) -> list[Record]:
    """Olist products as product events, file order (skips the test when data is absent)."""
    import pytest

    try:
        folder = resolve_data_dir()
        records = list(olist_products(folder))
    except FileNotFoundError as exc:
        pytest.skip(f"needs ../shared/data (Olist): {exc}")
    return records[:limit] if limit else records


def movies(limit: int | None = None) -> list[Record]:
    """MovieLens movies as product events (skips the test when data is absent)."""
    import pytest

    try:
        records = list(movielens_movies(resolve_data_dir()))
    except FileNotFoundError as exc:
        pytest.skip(f"needs ../shared/data (MovieLens): {exc}")
    return records[:limit] if limit else records


def sorted_by(records: list[Record], field: str) -> list[Record]:
    """Records sorted by ``field`` (a catalogue feed exported in category order)."""
    return sorted(records, key=lambda r: str(r.get(field) or ""))


def bulk_loads(records: list[Record], field: str, seed: int = 3) -> list[Record]:
    """Records regrouped into bulk loads: shuffled runs of 50-400 records of one value."""
    rng = random.Random(seed)
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(str(record.get(field)), []).append(record)
    runs: list[list[Record]] = []
    for group in groups.values():
        i = 0
        while i < len(group):
            size = rng.randint(50, 400)
            runs.append(group[i : i + size])
            i += size
    rng.shuffle(runs)
    return [r for run in runs for r in run]


def shuffled(records: list[Record], seed: int = 5) -> list[Record]:
    """Records in random order."""
    out = list(records)
    random.Random(seed).shuffle(out)
    return out


def drift_from(
    records: list[Record], start: int, change: Callable[[Record, int], Record | None]
) -> list[Record]:
    """Records with ``change`` applied from index ``start`` on (None leaves it as is)."""
    out = []
    for i, record in enumerate(records):
        if i >= start:
            changed = change(dict(record), i)
            record = changed if changed is not None else record
        out.append(record)
    return out


def titles_into_category(record: Record, i: int) -> Record | None:
    """A mapping bug: the title lands in ``category``."""
    if "title" in record:
        record["category"] = record["title"]
    return record


def boilerplate_description(record: Record, i: int) -> Record | None:
    """The description becomes a vendor's boilerplate."""
    if "description" in record:
        record["description"] = (
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Contact seller for details."
        )
    return record


def templated_boilerplate(record: Record, i: int) -> Record | None:
    """Descriptions become a template with a number in it (many distinct values)."""
    if "description" in record:
        record["description"] = f"Item #{i % 997} - no description available, see SKU {i * 7}."
    return record


def portuguese_feed(record: Record, i: int) -> Record | None:
    """The feed switches language: titles and descriptions in Portuguese."""
    for field in ("title", "description"):
        if field in record:
            record[field] = to_portuguese(record[field])
    return record


def titles_into_category_share(share: float, seed: int = 1) -> Callable[[Record, int], Record]:
    """A mapping bug in one of several upstream services: ``share`` of the records carry
    their title in ``category`` (the rest are untouched)."""
    rng = random.Random(seed)

    def change(record: Record, i: int) -> Record:
        if "title" in record and rng.random() < share:
            record["category"] = record["title"]
        return record

    return change


def portuguese_descriptions(record: Record, i: int) -> Record | None:
    """A locale bug: descriptions arrive in Portuguese (titles, categories unchanged)."""
    if "description" in record:
        record["description"] = to_portuguese(record["description"])
    return record


BOILERPLATE = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "N/A - description pending vendor upload",
    "TBD TBD TBD",
)


def rising_boilerplate(
    start: int, end: int, top: float = 0.5, seed: int = 2
) -> Callable[[Record, int], Record]:
    """The share of boilerplate descriptions rises linearly from 0 at ``start`` to
    ``top`` at ``end``."""
    rng = random.Random(seed)

    def change(record: Record, i: int) -> Record:
        if "description" in record and rng.random() < top * (i - start) / (end - start):
            record["description"] = BOILERPLATE[rng.randrange(len(BOILERPLATE))]
        return record

    return change


def lines(records: Iterable[Record]) -> list[bytes]:
    """JSON lines (no newline) for ``check``."""
    return [orjson.dumps(r) for r in records]


def run_check(
    records: Iterable[Record],
    stream: str,
    folder: Path,
    *,
    model: str = "hashing",
    embedder: Any = None,
) -> list[Record]:
    """Write ``records`` as a JSON-lines file, run ``check`` on it, return its findings."""
    from streamguard.commands.check import check_file
    from streamguard.config import Settings

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(lines(records)) + b"\n")
    out = folder / "out"
    check_file(
        path,
        stream,  # type: ignore[arg-type]
        out,
        Settings(model=model, device="cpu"),
        embedder=embedder,
    )
    return [orjson.loads(line) for line in (out / "findings.jsonl").read_bytes().splitlines()]


def drift_findings(findings: list[Record]) -> list[Record]:
    """Only the schema and semantic drift findings."""
    return [f for f in findings if f["kind"] in ("schema_drift", "semantic_drift")]


def ratings(limit: int) -> list[Record]:
    """MovieLens ratings as behaviour events in time order (users rate in bursts)."""
    import pytest

    from streamguard.sources.replay import movielens_ratings

    try:
        events = movielens_ratings(resolve_data_dir())
        return [e for _, e in zip(range(limit), events, strict=False)]
    except FileNotFoundError as exc:
        pytest.skip(f"needs ../shared/data (MovieLens): {exc}")


def untranslated_category(record: Record, i: int) -> Record | None:
    """Olist's category translation is lost: the raw Portuguese name arrives instead."""
    category = record.get("category")
    if isinstance(category, str):
        record["category"] = _OLIST_PT.get(category, category)
    return record


def _olist_untranslate() -> dict[str, str]:
    import csv

    try:
        folder = resolve_data_dir()
    except FileNotFoundError:
        return {}
    path = folder / "olist" / "product_category_name_translation.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {
            row["product_category_name_english"]: row["product_category_name"]
            for row in csv.DictReader(fh)
        }


_OLIST_PT = _olist_untranslate()
