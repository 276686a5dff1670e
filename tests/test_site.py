"""`git modelver site`: the registry as static pages, built from a real repository and rebuilt incrementally.

The pages are read as files here (links, escaping, what each page says); `test_site_browser.py` opens them
in Chromium.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import MANIFEST, GitRepo, Result, seed

from gitmodelver.site import build, metrics, textdiff

EVAL = '\n[evaluation]\nresults = { path = "evals/results.json" }\ngates = { accuracy = ">= 0.8" }\n'
PROMPT = "You are a helpful support bot for {{ product }}.\nBe concise.\nCite the docs.\n"
EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
NEW_PROMPT = (
    f"You are a friendly support bot for {{{{ product }}}}.\nBe concise and kind.\nCite the docs.\n{EVIL}\n"
)
MESSAGE = "friendlier <b>bold</b> <script>window.__pwned=3</script>"
REASON = '<img src=x onerror="window.__pwned=4"> new prompt'


def results(accuracy: float) -> str:
    doc = {
        "subject": "sha256:" + "0" * 64,
        "metrics": {"accuracy": accuracy},
        "created_at": "2026-01-01T00:00:00Z",
    }
    return json.dumps(doc)


def ok(repo: GitRepo, *args: str) -> Result:
    result = repo.modelver(*args)
    assert result.code == 0, result.err
    return result


def release(repo: GitRepo, *args: str) -> str:
    ok(repo, "lock")
    repo.commit_all("change")
    return str(ok(repo, "release", "--no-sign", "--json", *args).json()["tag"])


def make_registry(repo: GitRepo) -> list[str]:
    """Three releases (a prompt made friendlier, and hostile; a parameter), deployed to prod and staging."""
    repo.write("evals/results.json", results(0.9))
    repo.write("prompts/system.j2", PROMPT)
    seed(repo, MANIFEST + EVAL)
    repo.write("prompts/system.j2", PROMPT)
    repo.commit_all("prompt")
    tags = [release(repo)]
    repo.write("prompts/system.j2", NEW_PROMPT)
    repo.write(
        "evals/results.json", results(0.75)
    )  # fails its gate: a warning, the policy does not demand it
    tags.append(release(repo, "-m", MESSAGE))
    repo.write("modelver.toml", repo.read("modelver.toml").replace("temperature = 0.2", "temperature = 0.3"))
    repo.write("evals/results.json", results(0.86))
    tags.append(release(repo))
    ok(repo, "deploy", tags[0], "--env", "prod")
    ok(repo, "deploy", tags[1], "--env", "prod", "--reason", REASON)
    ok(repo, "deploy", tags[2], "--env", "staging")
    return tags


@pytest.fixture
def registry(repo: GitRepo) -> tuple[GitRepo, list[str]]:
    return repo, make_registry(repo)


def build_site(repo: GitRepo, out: Path, *args: str) -> dict[str, object]:
    return dict(ok(repo, "site", "-o", str(out), "--json", *args).json())


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def tags_of(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(path.read_text("utf-8"))
    return parser.found


def pages(out: Path) -> Iterator[Path]:
    yield from sorted(out.rglob("*.html"))


# --------------------------------------------------------------------------- text diffs (pure)

DIFFS = [
    ("a\nb\nc\n", "a\nB\nc\n"),
    ("", "one\ntwo\n"),
    ("one\ntwo\n", ""),
    ("\n".join(map(str, range(30))), "\n".join(map(str, [*range(5), 99, *range(6, 25), 77, *range(26, 30)]))),
    ("x\ny\n", "x\ny\nz\n"),
]


@pytest.mark.parametrize(("old", "new"), DIFFS)
def test_hunks_are_those_of_diff_u(old: str, new: str) -> None:
    found = textdiff.diff(old, new)
    expected = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="")
        if line.startswith("@@")
    ]
    assert [h.header for h in found.hunks] == expected
    assert found.added == sum(
        1 for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[0] == "+"
    )
    assert found.removed == sum(
        1 for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[0] == "-"
    )


@pytest.mark.parametrize(
    ("old", "new", "gone", "came"),
    [
        (
            "You are a helpful bot.",
            "You are a friendly bot.",
            "You are a <del>helpful</del> bot.",
            "You are a <ins>friendly</ins> bot.",
        ),
        ("Be concise.", "Be concise and kind.", "Be concise.", "Be concise<ins> and kind</ins>."),
        ("a < b", "a > b", "a <del>&lt;</del> b", "a <ins>&gt;</ins> b"),
        (
            "completely different",
            "nothing alike here at all",
            "completely different",
            "nothing alike here at all",
        ),
    ],
)
def test_changed_words_are_marked_and_escaped(old: str, new: str, gone: str, came: str) -> None:
    assert textdiff.words(old, new) == (gone, came)


def test_markup_in_a_diff_is_text() -> None:
    html = textdiff.file_diff("t", "", EVIL + "\n", "d")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_gate_thresholds_are_read_as_release_reads_them() -> None:
    assert [metrics.threshold(r) for r in (">= 0.8", "<=0.01", "== 1", "> -2e-1", "about 3", None)] == [
        0.8,
        0.01,
        1.0,
        -0.2,
        None,
        None,
    ]


# --------------------------------------------------------------------------- a built site


def test_every_page_links_only_inside_the_site(registry: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, tags = registry
    out = tmp_path / "site"
    build_site(repo, out)
    for tag in tags:
        name, version = tag.split("@v")
        assert (out / "v" / name / f"{version}.html").is_file()
        assert (out / "data" / name / f"{version}.js").is_file()
        assert (out / "files" / name / version / "modelver.toml").read_bytes() == repo.git(
            "show", f"{tag}:modelver.toml"
        ).encode()
    assert {p.name for p in (out / "env").glob("*.html")} == {"prod.html", "staging.html"}
    checked = 0
    for page in pages(out):
        text = page.read_text("utf-8")
        assert "Content-Security-Policy" in text and "default-src 'none'" in text, page
        for tag, attrs in tags_of(page):
            for key in ("href", "src", "action"):
                url = attrs.get(key)
                if url is None or url.startswith(("#", "data:")):
                    continue
                assert "://" not in url and not url.startswith("//"), f"{page}: {tag} {key}={url}"
                target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
                assert target.is_file(), f"{page}: {key}={url} leads nowhere"
                checked += 1
    assert checked > 50
    for asset in (out / "assets").iterdir():
        assert "http:" not in asset.read_text() and "https:" not in asset.read_text(), asset


def test_text_from_the_repository_is_shown_never_run(
    registry: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, tags = registry
    out = tmp_path / "site"
    build_site(repo, out)
    version = out / "v" / "support-bot" / "1.1.0.html"
    text = version.read_text("utf-8")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text  # the prompt line, as text
    assert "friendlier &lt;b&gt;bold&lt;/b&gt;" in text  # the tag message
    assert "&lt;img src=x onerror=" in (out / "env" / "prod.html").read_text("utf-8")  # a ledger reason
    for page in pages(out):
        for tag, attrs in tags_of(page):
            assert not any(k.startswith("on") for k in attrs), f"{page}: an event handler on <{tag}>"
            if tag == "script":
                assert attrs.get("type") == "application/json" or (attrs.get("src") or "").endswith(".js"), (
                    page
                )
            assert tag != "img", page
    data = (out / "data" / "support-bot" / "1.1.0.js").read_text("utf-8")
    assert "</script>" not in data and "\\u003cscript>" in data


def test_a_version_page_shows_its_change_evaluation_and_deployments(
    registry: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, tags = registry
    out = tmp_path / "site"
    build_site(repo, out)
    text = (out / "v" / "support-bot" / "1.1.0.html").read_text("utf-8")
    assert (
        "You are a <del>helpful</del> support bot" in text
        and "You are a <ins>friendly</ins> support bot" in text
    )
    assert "Be concise<ins> and kind</ins>." in text
    assert 'class="diff unified"' in text and 'class="diff split"' in text
    assert "Change from support-bot@v1.0.0" in text
    assert "<td>0.75</td><td>0.9</td>" in text  # accuracy, the previous version's beside it
    assert "−0.15" in text and "✗ fail" in text
    assert '<a href="../../env/prod.html">prod</a>' in text
    patch = (out / "v" / "support-bot" / "1.1.1.html").read_text("utf-8")
    assert "<td>parameters.temperature</td><td>0.2</td><td>0.3</td>" in patch
    first = (out / "v" / "support-bot" / "1.0.0.html").read_text("utf-8")
    assert "The first release of its system" in first
    for check in ("signature", "tag-object", "manifest", "digest", "pins", "level"):
        assert f"<td>{check}</td>" in first


def test_home_versions_metrics_and_environments(registry: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, tags = registry
    out = tmp_path / "site"
    build_site(repo, out)
    home = (out / "index.html").read_text("utf-8")
    assert home.count('class="bar"') == 2  # one split per environment
    assert '<a href="v/support-bot/1.1.1.html" class="tag">support-bot@v1.1.1</a>' in home
    table = (out / "versions.html").read_text("utf-8")
    assert table.count('<input type="checkbox" class="pick"') == 3
    assert 'data-envs="prod"' in table and 'data-envs="staging"' in table
    chart = (out / "metrics.html").read_text("utf-8")
    assert chart.count('class="point') == 3 and chart.count('class="point failed"') == 1
    assert 'class="gate"' in chart and "gate ≥ 0.8" in chart
    env = (out / "env" / "prod.html").read_text("utf-8")
    assert 'svg class="timeline"' in env and env.count('class="interval"') == 2
    data = json.loads(re.search(r'id="asof-data">(.*?)</script>', env, re.S).group(1))  # type: ignore[union-attr]
    assert [row[1] for row in data] == [1, 2] and data[1][4] == {tags[1]: 100}


def test_a_rebuild_redraws_only_what_changed(registry: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, tags = registry
    out = tmp_path / "site"
    first = build_site(repo, out)
    assert first["kept"] == 0 and first["versions"] == 3
    always = {"index.html", "versions.html", "metrics.html", "compare.html"}

    again = build.build(repo_of(repo), out)
    assert set(again.rendered) == always

    repo.write("prompts/greeting.j2", "Hello {{ name }}, welcome!\n")
    new = release(repo)
    after = build.build(repo_of(repo), out)
    name, version = new.split("@v")
    assert set(after.rendered) - always == {
        f"v/{name}/{version}.html",
        f"data/{name}/{version}.js",
        f"files/{name}/{version}/modelver.toml",
        f"files/{name}/{version}/results.json",
    }

    ok(repo, "deploy", new, "--env", "staging")
    moved = build.build(repo_of(repo), out)
    assert set(moved.rendered) - always == {
        "env/prod.html",  # its page shows whether each version verifies: drawn again when the ledger moves
        "env/staging.html",
        f"v/{name}/{version}.html",  # it serves now, and its BOM comes with it
        f"data/{name}/{version}.js",
        f"files/{name}/{version}/modelver.toml",
        f"files/{name}/{version}/results.json",
        f"files/{name}/{version}/bom.cdx.json",
        "v/support-bot/1.1.1.html",  # it stopped serving in staging
        "data/support-bot/1.1.1.js",
        "files/support-bot/1.1.1/modelver.toml",
        "files/support-bot/1.1.1/results.json",
    }
    assert "files/support-bot/1.1.1/bom.cdx.json" in moved.removed
    bom = json.loads((out / "files" / name / version / "bom.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"

    repo.git("tag", "-d", new)
    gone = build.build(repo_of(repo), out)
    assert f"v/{name}/{version}.html" in gone.removed and not (out / "files" / name / version).exists()


def repo_of(repo: GitRepo) -> object:
    from gitmodelver.gitstore.repo import Repo

    return Repo(str(repo.path))


def test_a_folder_that_is_not_a_site_is_refused_and_the_fix_works(
    registry: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, _ = registry
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me\n")
    result = repo.modelver("site", "-o", str(out), "--json")
    assert result.code == 2
    error = result.json()
    assert (
        "is not a site this command built" in error["error"] and (out / "mine.txt").read_text() == "keep me\n"
    )
    assert error["fix"] == f"git modelver site -o {tmp_path / 'notes-2'}"
    words = shlex.split(error["fix"])
    assert words[:2] == ["git", "modelver"]
    fixed = repo.modelver(*words[2:])
    assert fixed.code == 0, fixed.err
    assert (tmp_path / "notes-2" / "index.html").is_file()

    file = tmp_path / "site.html"
    file.write_text("x")
    refused = repo.modelver("site", "-o", str(file))
    assert refused.code == 2 and "is a file, not a folder" in refused.err


def test_a_broken_ledger_is_shown_and_fails_the_command(
    registry: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, _ = registry
    files = repo.git("ls-tree", "-r", "--name-only", "modelver/ledger", "events/").split()
    path = next(f for f in files if "prod" in f)
    lines = repo.git("show", f"modelver/ledger:{path}").splitlines(keepends=True)
    lines[0] = lines[0].replace('"seq":1', '"seq":7')
    blob = repo.git("hash-object", "-w", "--stdin", input="".join(lines)).strip()
    commit = commit_with(repo, "modelver/ledger", path, blob, tmp_path / "index")
    repo.git("update-ref", "refs/heads/modelver/ledger", commit)
    out = tmp_path / "site"
    result = repo.modelver("site", "-o", str(out))
    assert result.code == 1, result.err
    assert "the deployment ledger is broken" in result.err
    page = (out / "env" / "prod.html").read_text("utf-8")
    assert "The ledger of this environment is broken" in page
    assert (out / "v" / "support-bot" / "1.1.0.html").is_file() and (out / "env" / "staging.html").is_file()


def commit_with(repo: GitRepo, parent: str, path: str, blob: str, index: Path) -> str:
    """A commit on ``parent`` whose ``path`` is ``blob``, made in a scratch index (not the worktree's)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo.path), *args], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("read-tree", parent)
    git("update-index", "--cacheinfo", f"100644,{blob},{path}")
    return git("commit-tree", git("write-tree"), "-p", parent, "-m", "forged")


def test_serve_previews_on_loopback_and_stops(registry: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, _ = registry
    out = tmp_path / "site"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitmodelver", "-C", str(repo.path), "site", "-o", str(out), "--serve", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        address = None
        for line in proc.stderr:
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                address = found.group(1)
                break
        assert address is not None, "no address printed"
        with urllib.request.urlopen(address + "versions.html", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert "support-bot@v1.1.1" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(address + "../../etc/passwd", timeout=10)  # noqa: S310
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode is not None


def test_one_system_of_several(registry: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, _ = registry
    unknown = repo.modelver("site", "-o", str(tmp_path / "a"), "--system", "nope", "--json")
    assert unknown.code == 2 and unknown.json()["error"] == "no system 'nope' here (systems: support-bot)"
    assert build_site(repo, tmp_path / "b", "--system", "support-bot")["versions"] == 3
