"""``streamguard check --html``: a self-contained report, opened in headless chromium."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import orjson
import pytest

from streamguard import cli
from streamguard.sources.synthetic import Catalogue, EventClock, ProductSimulator
from streamguard.testing.browser import Browser

REPO_ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = Path(os.environ.get("STREAMGUARD_TEST_ARTEFACTS", REPO_ROOT / "test-artefacts"))


@pytest.fixture(autouse=True)
def _hashing_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAMGUARD_MODEL", "hashing")


def drifting_products(path: Path, count: int = 3_000, drift_from: int = 1_500) -> None:
    """Generator product events; from ``drift_from`` on every title is from another world,
    and a few descriptions carry an email address."""
    clock = EventClock(random.Random(1), 1_793_491_200_000, 500.0)
    products = ProductSimulator(seed=1, catalogue=Catalogue(seed=1, size=3_000), clock=clock)
    lines = []
    for i in range(count):
        event = products.next_event()
        if i >= drift_from and "title" in event:
            event["title"] = f"Lawnmower blade set model {i % 97}"
        if i % 100 == 7 and "description" in event:
            event["description"] = "write to owner.name@example.com"
        lines.append(orjson.dumps(event))
    lines.insert(50, b'{"event_id": "broken"')
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_the_report_opens_in_a_browser_with_its_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "products.jsonl"
    drifting_products(source)
    html = tmp_path / "report" / "check.html"
    code = cli.main(
        [
            "check",
            str(source),
            "--stream",
            "product",
            "--out",
            str(tmp_path / "o"),
            "--html",
            str(html),
        ]
    )
    assert code == 0
    assert f"HTML report: {html}" in capsys.readouterr().out
    page = html.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched from anywhere.
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<script" not in page
    assert "owner.name@example.com" not in page

    async def open_in_browser() -> tuple[str, list[str]]:
        async with Browser.launch(tmp_path / "chromium") as browser:
            page = await browser.new_page()
            await page.load(html.as_uri())
            await page.screenshot(ARTEFACTS / "check-report.png")
            dom = await page.evaluate("document.documentElement.outerHTML")
            return str(dom), list(page.errors)

    dom, errors = asyncio.run(open_in_browser())
    assert errors == []
    assert "semantic_drift" in dom and "decode_error" in dom
    # The title detector's statistic and threshold are plotted, with a marker where it fired.
    title_chart = dom[dom.index("<title>title · semantic</title>") :].split("</svg>", 1)[0]
    assert title_chart.count("<polyline") == 2 and "finding at" in title_chart
    assert "[email]" in dom or "email" in dom
    assert (ARTEFACTS / "check-report.png").stat().st_size > 20_000
