"""The HTML audit report in a real headless Chromium (Debian's, driven by Playwright): it renders offline.

The screenshot is kept: under $MODELVER_ARTIFACTS when set, else in the test's tmp dir; its path is printed.
Skips, saying why, only where no browser is installed (`.ci/run` installs Debian's chromium).
"""

from __future__ import annotations

import itertools
import json
import os
import re
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


HASH = re.compile(r"(?:sha256:)?[0-9a-f]{64}")


def test_layout_fits_the_window_at_1300_and_800_px(
    browser_page: Any, report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page = browser_page
    html, data = report
    for width in (1300, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(html.as_uri(), wait_until="load")
        shot = artifacts(tmp_path) / f"audit-report-{width}px.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the HTML audit report at {width} px: {shot}")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the page scrolls sideways at {width} px: {scroll} > {inner}"

        # no two axis labels of the timeline overlap, as Chromium draws them
        axis = page.eval_on_selector_all(
            "svg.timeline text.axis",
            "els => els.map(e => { const b = e.getBBox(); return [b.x, b.x + b.width, e.textContent]; })",
        )
        assert len(axis) >= 2 and axis[0][2].startswith(data["period"]["since"][:10])
        for (_, right, before), (left, _, after) in itertools.pairwise(axis):
            assert right <= left, f"axis labels {before!r} and {after!r} overlap"


def test_hashes_are_short_in_tables_but_whole_on_hover_and_copy(
    browser_page: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    page = browser_page
    html, data = report
    page.goto(html.as_uri(), wait_until="load")
    full = [
        c["new"]
        for v in data["versions"]
        for c in (v["change"] or {}).get("changes", [])
        if isinstance(c["new"], str) and HASH.fullmatch(c["new"])
    ]
    assert full, "the fixture's 'Change from' tables should hold full sha256 values"
    cell = page.locator(f'td code.hash[data-full="{full[0]}"]').first
    assert cell.get_attribute("title") == full[0]
    shown = page.evaluate("e => getComputedStyle(e, '::before').content", cell.element_handle())
    assert shown == json.dumps(full[0][: full[0].find(":") + 13] + "…", ensure_ascii=False)
    box = cell.bounding_box()
    assert box is not None and box["width"] < 200  # drawn short: a full sha256 takes ~500 px
    # Selecting the cell and copying yields the full value only (what the selection serialises to).
    copied = page.evaluate(
        "e => { const s = getSelection(); s.selectAllChildren(e.closest('td')); return s.toString(); }",
        cell.element_handle(),
    )
    assert copied.split()[-1] == full[0] and "…" not in copied, copied


def test_manifest_is_shown_as_the_toml_released(
    browser_page: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    page = browser_page
    html, data = report
    page.goto(html.as_uri(), wait_until="load")
    shown = page.locator("pre.manifest").all_inner_texts()
    released = [v["manifest_text"] for v in data["versions"] if v["manifest_text"]]
    assert shown and len(shown) == len(released)
    assert shown[0].strip() == released[0].strip()
    assert all("[system]" in text and '{"system"' not in text for text in shown)
    assert '{"system"' not in html.read_text()
