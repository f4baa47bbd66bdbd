"""langid's model through the uncompressed cache: the same classifications as the
packaged file, the cache written once and read after, and the packaged file whenever
the cache cannot serve."""

from __future__ import annotations

import lzma
import math
from pathlib import Path

import pytest

from streamguard.drift import langid_model
from streamguard.drift.langid_model import load_identifier

TEXTS = [
    "A sturdy wooden table for the kitchen and the garden",
    "Uma mesa de madeira resistente para a cozinha e o jardim",
    "Ein stabiler Holztisch für die Küche und den Garten",
    "Une table en bois solide pour la cuisine et le jardin",
    "Una mesa de madera resistente para la cocina y el jardín",
    "pro smartphone",
    "wireless headphones 2024",
    "Прочный деревянный стол для кухни и сада",
    "頑丈な木製のテーブル",
    "",
]


@pytest.fixture(scope="module")
def packaged() -> object:
    from py3langid.langid import LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(langid_model._packaged_model())


def _same(identifier: object, reference: object) -> bool:
    for text in TEXTS:
        got = identifier.classify(text)  # type: ignore[attr-defined]
        want = reference.classify(text)  # type: ignore[attr-defined]
        if got[0] != want[0] or not math.isclose(got[1], want[1], rel_tol=1e-6):
            return False
    return True


def test_the_cache_gives_what_the_packaged_file_gives(tmp_path: Path, packaged: object) -> None:
    first = load_identifier(tmp_path)
    [folder] = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert {p.name for p in folder.iterdir()} >= {"ptc.npy", "classes.json", "nextmove.npy"}
    assert _same(first, packaged)
    assert first.classify(TEXTS[1])[0] == "pt"


def test_a_written_cache_is_read_without_decompressing(
    tmp_path: Path, packaged: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_identifier(tmp_path)

    def no_lzma(*_: object, **__: object) -> None:
        raise AssertionError("decompressed again")

    monkeypatch.setattr(lzma, "open", no_lzma)
    assert _same(load_identifier(tmp_path), packaged)


def test_an_unusable_cache_falls_back_to_the_packaged_file(
    tmp_path: Path, packaged: object, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    caplog.set_level("INFO", logger="streamguard.drift.langid_model")
    assert _same(load_identifier(blocked), packaged)
    assert "not usable" in caplog.text
    # a cache folder with a table missing (an interrupted copy by hand, say)
    load_identifier(tmp_path / "cache")
    [folder] = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    (folder / "ptc.npy").unlink()
    assert _same(load_identifier(tmp_path / "cache"), packaged)
