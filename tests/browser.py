"""Headless Debian chromium for tests of pages people look at (the HTML report, the console).

``render(url, out_png)`` loads a page, saves a screenshot and returns the rendered DOM.
Screenshots go under :data:`ARTEFACTS` (``STREAMGUARD_TEST_ARTEFACTS``, default
``<repo>/test-artefacts``) so they can be looked at after the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = Path(os.environ.get("STREAMGUARD_TEST_ARTEFACTS", REPO_ROOT / "test-artefacts"))


def chromium() -> str:
    """The chromium binary (``make install`` installs Debian's package)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("chromium is not installed: run scripts/install-chromium.sh")
    return found


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # tests run as root in CI containers
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


def render(url: str, screenshot: Path, *, width: int = 1200, height: int = 2000) -> str:
    """Load ``url``; write a PNG of the first ``height`` pixels to ``screenshot``; return the
    DOM after load (scripts run)."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    profile = screenshot.parent / f".chromium-{screenshot.stem}"
    _run([f"--window-size={width},{height}", f"--screenshot={screenshot}", url], profile)
    return _run(["--dump-dom", url], profile).stdout
