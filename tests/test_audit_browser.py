"""The HTML audit report in a real headless Chromium (Debian's, driven by Playwright): it renders offline.

The screenshot is kept: under $MODELVER_ARTIFACTS when set, else in the test's tmp dir; its path is printed.
Skips, saying why, only where no browser is installed (`.ci/run` installs Debian's chromium).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers import GitRepo
from pipeline_project import deploy_history

if TYPE_CHECKING:
    from pipeline_project import PipelineProject

pytest_plugins = ["pipeline_fixtures"]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no Chromium here: `apt-get install chromium` (Debian's package; .ci/run installs it)")


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    executable = chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every time
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture
def report(pipeline: PipelineProject, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    repo: GitRepo = pipeline.repo
    period = deploy_history(repo, tmp_path)
    window = ("--since", period["since"], "--until", period["until"])
    html = tmp_path / "audit.html"
    assert repo.modelver("audit", "--env", "prod", *window, "--format", "html", "-o", str(html)).code == 0
    data = json.loads(repo.modelver("audit", "--env", "prod", *window, "--format", "json").out)
    return html, data


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MODELVER_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_timeline_and_lineage_render_offline_without_errors(
    browser_page: Any, report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page = browser_page
    html, data = report
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri(), wait_until="load")

    timeline = page.locator("svg.timeline")
    assert timeline.count() == 1 and timeline.is_visible()
    box = timeline.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 100
    intervals = sum(len(v["served"]["intervals"]) for v in data["versions"])
    assert page.locator("svg.timeline rect.interval").count() == intervals
    widths = page.eval_on_selector_all("svg.timeline rect.interval", "els => els.map(e => e.getBBox().width)")
    assert all(w > 0 for w in widths)
    labels = page.eval_on_selector_all("svg.timeline text.row-label", "els => els.map(e => e.textContent)")
    assert labels == [v["tag"] for v in data["versions"]]
    assert page.locator("svg.timeline circle.event").count() == len(data["events"])

    graphs = page.locator("svg.lineage")
    assert graphs.count() == len(data["versions"])
    first = data["versions"][0]["lineage"]
    assert page.locator("svg.lineage").first.locator("g.node").count() == len(first["nodes"])
    assert page.locator("svg.lineage").first.locator("path.edge").count() == len(first["edges"])
    sizes = page.eval_on_selector_all(
        "svg.lineage", "els => els.map(e => { const b = e.getBBox(); return [b.width, b.height]; })"
    )
    assert all(w > 400 and h > 100 for w, h in sizes)
    drawn = page.eval_on_selector_all("svg.lineage g.node text.label", "els => els.map(e => e.textContent)")
    assert "train" in drawn and "data/raw.jsonl" in drawn and "weights.adapter" in drawn

    assert problems == []
    assert all(url.startswith("file://") for url in requests), requests  # one file, nothing fetched

    shot = artifacts(tmp_path) / "audit-report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    print(f"\nscreenshot of the HTML audit report: {shot}")

    # printable: the print stylesheet still shows the drawings, and Chromium makes a PDF of it
    page.emulate_media(media="print")
    assert page.locator("svg.timeline").is_visible() and graphs.first.is_visible()
    pdf = page.pdf(format="A4", landscape=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    assert problems == []
