"""Every package's public face: ``__all__`` is sorted, exists, and is complete (httpx style).

Sorted the way ruff's ``RUF022`` (isort style) sorts it: ``SCREAMING_CASE`` constants
first, then ``CamelCase`` classes, then everything else (functions, modules), each group
in natural order. Complete: every public name an ``__init__`` imports is listed.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import streamguard

PACKAGE_ROOT = Path(streamguard.__file__).resolve().parent

#: The faces users import from; every other package __init__ that re-exports is added.
FACES = (
    "streamguard",
    "streamguard.alerts",
    "streamguard.dashboards",
    "streamguard.drift",
    "streamguard.events",
    "streamguard.quality",
    "streamguard.recommender",
    "streamguard.sources",
)


def _package_name(init: Path) -> str:
    return ".".join(init.parent.relative_to(PACKAGE_ROOT.parent).parts)


def _imported_names(init: Path) -> list[str]:
    """Public names bound by the __init__'s module-level imports."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names += [alias.asname or alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.asname or alias.name.partition(".")[0] for alias in node.names]
    return [name for name in names if not name.startswith("_")]


def _faces() -> list[str]:
    found = set(FACES)
    for init in PACKAGE_ROOT.rglob("__init__.py"):
        if _imported_names(init):
            found.add(_package_name(init))
    return sorted(found)


def _sort_key(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    """RUF022's isort-style order: constants, classes, the rest; digits compare as numbers."""
    if len(name) > 1 and name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    parts = re.split(r"(\d+)", name)
    return group, [(0, int(p)) if p.isdigit() else (1, p) for p in parts if p]


def test_the_sort_key_is_rufs() -> None:
    names = ["snapshot", "ALGORITHM", "RecommenderConfig", "DEFAULT_EVENT_WEIGHTS", "Drop"]
    assert sorted(names, key=_sort_key) == [
        "ALGORITHM",
        "DEFAULT_EVENT_WEIGHTS",
        "Drop",
        "RecommenderConfig",
        "snapshot",
    ]


@pytest.mark.parametrize("package", _faces())
def test_all_is_sorted_unique_and_exists(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} re-exports names but declares no __all__"
    assert len(set(exported)) == len(exported), f"{package}.__all__ has duplicates"
    assert list(exported) == sorted(exported, key=_sort_key), f"{package}.__all__ is unsorted"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("package", _faces())
def test_all_lists_every_public_import(package: str) -> None:
    module = importlib.import_module(package)
    init = Path(str(module.__file__))
    unlisted = sorted(set(_imported_names(init)) - set(getattr(module, "__all__", ())))
    assert not unlisted, f"{package} imports public names it does not export: {unlisted}"
