"""The registry site in a real headless Chromium (Debian's, driven by Playwright), opened from ``file://``.

A reader's path through it: the home page, a version and its prompt diff, two versions compared, the
versions table filtered and sorted, an environment and ``asof``; no console error and no request but to
``file://`` on the way. A prompt, a tag message and a ledger reason holding ``<script>`` and
``<img onerror>`` execute nothing. axe-core (from the npm registry, injected by the test) finds no serious
or critical violation on any kind of page. Screenshots of each kind, at 1280 and 800 px, are kept under
$MODELVER_ARTIFACTS when set (else the test's tmp dir).

Skips, saying why, only where no browser or no axe-core is installed (`.ci/run` installs both).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dvc_helpers import isolated
from helpers import GitRepo
from pipeline_project import PipelineProject, deploy_history
from test_audit_browser import FLAGS, chromium
from test_site import EVIL, make_registry

pytest_plugins = ["pipeline_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
AXE = ("build/axe/node_modules/axe-core/axe.min.js",)
PAGES = {  # page kind -> the page, from the site's top (query strings for compare)
    "home": "index.html",
    "versions": "versions.html",
    "version": "v/support-bot/1.2.0.html",
    "compare": "compare.html?a=support-bot%40v1.0.0&b=support-bot%40v1.3.0",
    "metrics": "metrics.html",
    "environment": "env/prod.html",
}


@dataclass
class Watched:
    """A page with everything it logged, failed and asked for."""

    page: Any
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        self.page.goto(url, wait_until="load")
        return self.page

    def clean(self) -> None:
        assert self.problems == []
        assert self.requests and all(url.startswith("file://") for url in self.requests), self.requests


def watch(page: Any) -> Watched:
    seen = Watched(page)
    page.on(
        "console",
        lambda m: seen.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: seen.problems.append(f"request failed: {r.url}"))
    page.on("dialog", lambda d: (seen.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: seen.requests.append(r.url))
    return seen


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    page = browser.new_page()
    try:
        yield watch(page)
    finally:
        page.close()


@pytest.fixture(scope="module")
def site(pipeline_built: PipelineProject, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline project's six releases, deployed and rolled out in prod and staging, as a site."""
    with isolated(tmp_path_factory.mktemp("home")):
        root = tmp_path_factory.mktemp("registry")
        project = pipeline_built.copy(root)
        deploy_history(project.repo, root)
        out = root / "site"
        result = project.repo.modelver("site", "-o", str(out))
        assert result.code == 0, result.err
        return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose prompt, tag message and ledger reason hold markup and script."""
    with isolated(tmp_path_factory.mktemp("home")):
        repo = GitRepo.create(tmp_path_factory.mktemp("hostile") / "repo")
        make_registry(repo)
        out = repo.path.parent / "site"
        assert repo.modelver("site", "-o", str(out)).code == 0
        return out


def url(out: Path, page: str) -> str:
    path, _, query = page.partition("?")
    return (out / path).as_uri() + (f"?{query}" if query else "")


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MODELVER_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


# --------------------------------------------------------------------------- a reader's path


def test_from_home_to_a_version_and_its_prompt_diff(tab: Watched, site: Path) -> None:
    page = tab.open(url(site, "index.html"))
    assert page.locator("table.systems").get_by_role("link", name="support-bot@v1.5.0").is_visible()
    assert "support-bot@v1.5.0 100%" in page.locator("table.envs").inner_text()
    page.get_by_role("link", name="Versions").click()
    page.get_by_role("link", name="support-bot@v1.3.0").click()
    assert page.locator("h1").inner_text() == "support-bot@v1.3.0"
    assert page.locator("p.verdict.pass").is_visible()

    diff = page.locator("#change section.file-diff").first
    assert "prompts/system.j2" in diff.locator("h4").inner_text()
    # the text of a line, as a screen reader says it: its mark is drawn, never read or copied
    removed = diff.locator(".unified-view tr.del td.code").all_text_contents()
    added = diff.locator(".unified-view tr.add td.code").all_text_contents()
    assert removed == ["-removed: You are a helpful support bot. Be concise."]
    assert added == ["+added: You are a helpful support bot. Cite sources."]
    assert diff.locator(".unified-view tr.del del").all_inner_texts() == ["Be", "concise"]
    assert diff.locator(".unified-view tr.add ins").all_inner_texts() == ["Cite", "sources"]
    assert not diff.locator(".split-view").is_visible()
    diff.get_by_label("Side by side").check()
    assert diff.locator(".split-view").is_visible() and not diff.locator(".unified-view").is_visible()
    row = diff.locator(".split-view tbody tr").nth(1)
    assert row.locator("td.code.del").inner_text().endswith("Be concise.")
    assert row.locator("td.code.add").inner_text().endswith("Cite sources.")

    assert page.locator("#evaluation table.metrics").is_visible()
    assert page.locator("#lineage svg.lineage g.node").count() > 5
    assert "prod" in page.locator("#served").inner_text()
    tab.clean()


def test_compare_two_versions_picked_in_the_versions_table(tab: Watched, site: Path) -> None:
    page = tab.open(url(site, "versions.html"))
    page.get_by_label("compare support-bot@v1.4.0").check()
    page.get_by_label("compare support-bot@v1.1.0").check()
    page.get_by_role("button", name="Compare the two picked").click()
    page.wait_for_selector("#compare-result h2")
    assert (
        page.locator("#compare-result h2").first.inner_text()
        == "From support-bot@v1.1.0 to support-bot@v1.4.0"
    )
    diff = page.locator("#compare-result section.file-diff").first
    assert (
        diff.locator(".unified-view tr.del td.code").inner_text().endswith("You are a helpful support bot.")
    )
    added = diff.locator(".unified-view tr.add td.code").inner_text()
    assert added.endswith("You are a helpful support bot. Be brief.")
    assert "Be brief" in diff.locator(".unified-view tr.add ins").inner_text()
    assert page.locator("#compare-result .level").first.inner_text() == "minor"
    assert page.locator("#compare-result table.metrics").is_visible()
    page.get_by_label("From").select_option("support-bot@v1.0.0")
    page.get_by_label("To").select_option("support-bot@v1.1.0")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("#compare-result table.artifacts")
    weights = page.locator("#compare-result table.artifacts tbody tr").first.inner_text()
    assert "weights.adapter" in weights and "models/adapter.safetensors" in weights and "KiB" in weights
    tab.clean()


def test_the_versions_table_filters_and_sorts(tab: Watched, site: Path) -> None:
    page = tab.open(url(site, "versions.html"))
    rows = page.locator("table.versions tbody tr")
    assert rows.count() == 6
    page.get_by_label("Text").fill("v1.2")
    assert [r for r in texts(page, "table.versions tbody tr:not([hidden]) td:first-child")] == [
        "support-bot@v1.2.0"
    ]
    page.get_by_label("Text").fill("")
    page.get_by_label("Environment").select_option("staging")
    assert texts(page, "table.versions tbody tr:not([hidden]) td:first-child") == ["support-bot@v1.5.0"]
    page.get_by_label("Environment").select_option("")
    page.get_by_label("Level").select_option("initial")
    assert texts(page, "table.versions tbody tr:not([hidden]) td:first-child") == ["support-bot@v1.0.0"]
    assert page.locator("#shown").inner_text() == "1 of 6 version(s)"
    page.get_by_label("Level").select_option("")
    page.get_by_role("button", name="version", exact=True).click()
    assert texts(page, "table.versions tbody tr td:first-child")[0] == "support-bot@v1.0.0"
    page.get_by_role("button", name="version", exact=True).click()
    assert texts(page, "table.versions tbody tr td:first-child")[0] == "support-bot@v1.5.0"
    tab.clean()


def test_an_environment_page_and_asof(tab: Watched, site: Path) -> None:
    page = tab.open(url(site, "env/prod.html"))
    assert page.locator("svg.timeline").is_visible()
    assert page.locator("svg.timeline text.row-label").count() >= 5
    events = page.locator("table.events tbody tr")
    assert events.count() >= 8
    assert "fail" in page.locator("table.measurements").inner_text()  # the rolled back candidate's analysis
    rows = json.loads(page.locator("#asof-data").inner_text())
    ask(page, rows[-1][0], 86_400_000)  # a day after the last event: its split still holds
    answer = page.locator("#asof-answer").inner_text()
    split = ", ".join(f"{tag} {share:g}%" for tag, share in rows[-1][4].items())
    assert f"set by event {rows[-1][1]}" in answer and split in answer
    ask(page, rows[0][0], -86_400_000)  # a day before the first
    assert "nothing was deployed" in page.locator("#asof-answer").inner_text()
    tab.clean()


def ask(page: Any, moment: str, shift_ms: int) -> None:
    """Pick ``moment`` moved by ``shift_ms`` in the asof form, in the browser's local time as it takes it."""
    local = page.evaluate(
        "([at, shift]) => { const d = new Date(Date.parse(at) + shift);"
        " const p = n => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T`"
        " + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }",
        [moment, shift_ms],
    )
    page.get_by_label("Moment (your local time)").fill(local)
    page.get_by_role("button", name="Look up").click()


def test_markup_from_the_repository_executes_nothing(tab: Watched, hostile: Path) -> None:
    for path in (
        "index.html",
        "versions.html",
        "v/support-bot/1.1.0.html",
        "compare.html?a=support-bot%40v1.0.0&b=support-bot%40v1.1.0",
        "metrics.html",
        "env/prod.html",
    ):
        page = tab.open(url(hostile, path))
        page.wait_for_timeout(200)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("img").count() == 0, path
    page = tab.open(url(hostile, "v/support-bot/1.1.0.html"))
    assert EVIL in page.locator("#change .unified-view").inner_text()
    page = tab.open(url(hostile, "compare.html?a=support-bot%40v1.0.0&b=support-bot%40v1.1.0"))
    page.wait_for_selector("#compare-result section.file-diff")
    assert EVIL in page.locator("#compare-result .unified-view").inner_text()
    assert page.evaluate("window.__pwned") is None
    tab.clean()


# --------------------------------------------------------------------------- accessibility and looks


def axe_source() -> str:
    for candidate in (os.environ.get("MODELVER_AXE"), *(str(ROOT / p) for p in AXE)):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text("utf-8")
    pytest.skip("axe-core is not installed: npm install --prefix build/axe axe-core (.ci/run does)")


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_no_serious_accessibility_violation(tab: Watched, site: Path, kind: str) -> None:
    source = axe_source()
    page = tab.open(url(site, PAGES[kind]))
    if kind == "compare":
        page.wait_for_selector("#compare-result section.file-diff")
    page.evaluate(source)  # the page's policy forbids injected scripts; the test's own evaluate is not one
    found = page.evaluate(
        "async () => (await axe.run(document, {preload: false})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.html)}))"
    )
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious, indent=1)


@pytest.mark.parametrize("width", [1280, 800])
def test_every_kind_of_page_fits_the_window(tab: Watched, site: Path, tmp_path: Path, width: int) -> None:
    tab.page.set_viewport_size({"width": width, "height": 900})
    for kind, path in PAGES.items():
        page = tab.open(url(site, path))
        if kind == "compare":
            page.wait_for_selector("#compare-result section.file-diff")
        shot = artifacts(tmp_path) / f"site-{kind}-{width}px.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the site's {kind} page at {width} px: {shot}")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the {kind} page scrolls sideways at {width} px: {scroll} > {inner}"
    tab.clean()
