"""langid's model, loaded from an uncompressed cache instead of its ``.npz.xz``.

``py3langid`` ships its model LZMA-compressed (4.6 MB, 68 MB inside). Loading it costs
~0.6 s of CPU per process: ~0.35 s to decompress, ~0.25 s to read the arrays out of the
zip. ``check``'s child process and every worker start pay that on the first text. So
the first load also writes the arrays as plain ``.npy`` files under
``$XDG_CACHE_HOME/streamguard/langid/<key>/`` (else ``~/.cache``), keyed by the packaged
file's size and mtime; later loads map the large table into memory (pages are read
when a text touches them), a few milliseconds.

The arrays and the identifier built from them are the ones ``py3langid``'s own loader
gives (same dtypes and values: a test checks the classifications). Anything wrong with
the cache (unwritable, half written, from another layout) falls back to the packaged
file, with a log line.

>>> identifier = load_identifier()
>>> identifier.classify("Uma mesa de madeira para a cozinha e o jardim")[0]
'pt'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from array import array
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["default_cache_dir", "load_identifier"]

log = logging.getLogger(__name__)

#: The cache's layout version (part of the key).
_LAYOUT = "1"
_ARRAYS = ("ptc", "pc", "nextmove", "nextmove_row", "out_feat")
_TYPECODE = {2: "H", 4: "I", 8: "L"}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/streamguard/langid``, else ``~/.cache/streamguard/langid``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "streamguard", "langid")


def _packaged_model() -> Path:
    from py3langid.langid import MODEL_DIR, MODEL_FILE  # type: ignore[import-untyped]

    return Path(MODEL_DIR, MODEL_FILE)


def _key(model: Path) -> str:
    stat = model.stat()
    text = f"{_LAYOUT}\0{model.name}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _uint_array(values: np.ndarray[Any, Any]) -> array[int]:
    """A NumPy unsigned array as the stdlib ``array`` langid's tokenizer indexes."""
    out = array(_TYPECODE[values.dtype.itemsize])
    out.frombytes(np.ascontiguousarray(values).data.cast("B"))
    return out


def _write_cache(model: Path, target: Path) -> None:
    """Decompress ``model``'s arrays into ``target`` (atomically: a temporary folder
    renamed into place)."""
    import lzma

    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=".langid-", dir=target.parent))
    try:
        with tempfile.TemporaryFile(suffix=".npz") as raw:
            with lzma.open(model) as source:
                shutil.copyfileobj(source, raw, length=1 << 20)
            raw.seek(0)
            with np.load(raw, allow_pickle=False) as data:
                for name in _ARRAYS:
                    np.save(temp / f"{name}.npy", data[name], allow_pickle=False)
                classes = data["classes"].tolist()
        (temp / "classes.json").write_text(json.dumps(classes))
        try:
            os.rename(temp, target)
        except OSError:
            if not (target / "classes.json").is_file():  # not a lost race
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _read_cache(target: Path) -> Any:
    from py3langid.langid import LanguageIdentifier

    classes = json.loads((target / "classes.json").read_text())
    arrays = {
        name: np.load(target / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _ARRAYS
    }
    return LanguageIdentifier(
        np.asarray(arrays["ptc"]),  # still the mapping, without np.memmap's subclass
        np.asarray(arrays["pc"]),
        classes,
        _uint_array(arrays["nextmove"]),
        arrays["out_feat"].tolist(),
        tk_row=_uint_array(arrays["nextmove_row"]),
    )


def load_identifier(cache_dir: Path | None = None) -> Any:
    """langid's ``LanguageIdentifier`` for the packaged model, through the cache."""
    from py3langid.langid import LanguageIdentifier

    model = _packaged_model()
    target = (cache_dir or default_cache_dir()) / _key(model)
    try:
        if not (target / "classes.json").is_file():
            _write_cache(model, target)
        return _read_cache(target)
    except (OSError, ValueError, KeyError) as exc:
        log.info("langid model cache %s not usable (%s): loading the packaged file", target, exc)
        return LanguageIdentifier.from_model_file(model)
