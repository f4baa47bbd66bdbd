"""The content index across restarts: its products' texts, saved next to the model.

Vectors are not saved (384 floats a product): the texts are, as one JSON object
``{"version": 1, "texts": {product_id: text}}``, written atomically with each model
snapshot, and queued again at start, so the index refills in batches at the recommender's
refresh cadence instead of waiting for every product to be sent again. A missing or
unreadable file restores nothing (logged): the index then fills from catalogue events.

Examples
--------
>>> import tempfile
>>> from streamguard.embed.hashing import HashingEmbedder
>>> from streamguard.recommender.content import ContentIndex
>>> index = ContentIndex(HashingEmbedder(dim=16))
>>> index.queue("p1", "red shoes"), index.refresh()
(True, 1)
>>> path = Path(tempfile.mkdtemp()) / "model.content.json"
>>> save_texts(index, path) > 0
True
>>> again = ContentIndex(HashingEmbedder(dim=16))
>>> restore_texts(again, path), again.pending
(1, 1)
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from streamguard.recommender.content import ContentIndex
from streamguard.runtime import files

__all__ = ["content_path", "restore_texts", "save_texts"]

log = logging.getLogger(__name__)

_VERSION = 1


def content_path(model_path: Path) -> Path:
    """Where the texts of the model snapshotted at ``model_path`` are kept.

    >>> content_path(Path("/data/recommender/model.json")).name
    'model.content.json'
    """
    return model_path.with_suffix(".content.json")


def save_texts(index: ContentIndex, path: Path) -> int:
    """Write the index's texts to ``path`` atomically; returns the size written."""
    data = orjson.dumps({"version": _VERSION, "texts": index.texts()})
    return files.write_atomic(path, [data])


def restore_texts(index: ContentIndex, path: Path) -> int:
    """Queue the texts saved at ``path`` into ``index``; returns how many (0 when there
    is no such file, or it is not one of ours: logged)."""
    try:
        value = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return 0
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("recommender: content texts at %s not restored (%s)", path, exc)
        return 0
    texts = value.get("texts") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or value.get("version") != _VERSION
        or not isinstance(texts, dict)
    ):
        log.warning("recommender: %s is not a content-texts file of version %d", path, _VERSION)
        return 0
    return sum(
        index.queue(product_id, text)
        for product_id, text in texts.items()
        if isinstance(product_id, str) and isinstance(text, str) and product_id and text
    )
