"""The versions index: what tag objects say, and the last release a commit contains, remembered by object
id under .git/modelver/index/ and never trusted over Git.

Every test compares against what Git says with the index out of the way (``indexed=False``, or a fresh
``.git/modelver``), so a wrong entry shows as a difference.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygit2
import pytest
from conftest import SigningKey, sign_with
from helpers import GitRepo, seed

from gitmodelver.gitstore import index, released, versions
from gitmodelver.gitstore.repo import Repo

NAME = "support-bot"


def _release(repo: GitRepo, temperature: str, *args: str) -> str:
    text = repo.read("modelver.toml")
    start = text.index("temperature = ")
    end = text.index("\n", start)
    repo.write("modelver.toml", text[:start] + f"temperature = {temperature}" + text[end:])
    repo.commit_all(f"temperature {temperature}")
    result = repo.modelver("release", *args)
    assert result.code == 0, result.err
    return repo.git("describe", "--tags", "--exact-match").strip()


@pytest.fixture
def history(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """Three releases; the refs' storage may be trusted at once (no one-second racy wait in tests)."""
    monkeypatch.setattr(released, "RACY_NS", 0)
    seed(repo)
    assert repo.modelver("release").code == 0
    _release(repo, "0.3")
    _release(repo, "0.4")
    return repo


def _listing(path: Path, indexed: bool) -> list[dict[str, Any]]:
    rows = []
    for r in versions.list_releases(Repo(path), NAME, indexed=indexed):
        rows.append(
            {
                "tag": r.tag,
                "target": r.target,
                "commit": r.commit,
                "tagger": r.tagger,
                "time": r.time,
                "offset": r.offset,
                "trailers": dict(r.trailers),
                "summary": r.summary,
                "signed": r.signature_format,
                "message": r.message,
            }
        )
    return rows


def _section(path: Path, name: str) -> Path:
    return path / ".git" / "modelver" / "index" / f"{name}.json"


def test_listing_from_the_index_is_what_the_tag_objects_say(
    history: GitRepo, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_with(history, ssh_key)
    _release(history, "0.5", "--sign")
    head = history.git("rev-parse", "HEAD").strip()
    history.git("tag", f"{NAME}@v9.0.0-light", head)  # a lightweight version tag
    tree = history.git("rev-parse", "HEAD^{tree}").strip()
    history.git("tag", "-a", "-m", "a tree", f"{NAME}@v9.9.9", tree)  # no release: leads to no commit

    truth = _listing(history.path, indexed=False)
    first = _listing(history.path, indexed=True)  # learns every tag object
    again = _listing(history.path, indexed=True)  # answered from the index
    assert first == truth == again
    assert [row["signed"] for row in truth][:2] == [None, "ssh"]  # 9.0.0-light, then the signed 1.3.0
    entries = json.loads(_section(history.path, "tags").read_text())["entries"]
    assert len(entries) == 4  # the annotated releases; neither the lightweight tag nor the tree's tag

    log = history.modelver("log", "--json").json()
    assert [row["tag"] for row in log] == [row["tag"] for row in truth]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"format": "gitmodelver-index", "section": "tags", "scope": "tag-facts/1", "entr',  # truncated
        bytes(range(256)) * 4,  # not text
        b"[1, 2, 3]",
        b'{"format": "somebody-else", "entries": {}}',
        b'{"format": "gitmodelver-index", "section": "tags", "scope": "tag-facts/0", "entries": {}}',
        b'{"format": "gitmodelver-index", "section": "tags", "scope": "tag-facts/1", "entries": []}',
    ],
    ids=["empty", "truncated", "binary", "list", "foreign", "old-scope", "wrong-type"],
)
def test_a_broken_or_foreign_index_file_is_discarded_and_rebuilt(history: GitRepo, content: bytes) -> None:
    truth = _listing(history.path, indexed=False)
    _listing(history.path, indexed=True)
    _section(history.path, "tags").write_bytes(content)
    assert _listing(history.path, indexed=True) == truth
    doc = json.loads(_section(history.path, "tags").read_text())
    assert doc["format"] == "gitmodelver-index" and doc["scope"] == versions.TAGS_SCOPE
    assert len(doc["entries"]) == 3


def test_entries_of_the_wrong_shape_are_ignored_and_relearned(history: GitRepo) -> None:
    truth = _listing(history.path, indexed=False)
    _listing(history.path, indexed=True)
    path = _section(history.path, "tags")
    doc = json.loads(path.read_text())
    for n, oid in enumerate(doc["entries"]):
        doc["entries"][oid] = [["not a commit"], None, "noon", 0, "rot13", 1, {"Modelver-Bump": 7}][: 7 - n]
    path.write_text(json.dumps(doc))
    assert _listing(history.path, indexed=True) == truth


def test_a_moved_tag_is_a_new_object_so_its_old_entry_is_never_read(history: GitRepo) -> None:
    _listing(history.path, indexed=True)
    tag = f"{NAME}@v1.0.2"
    before = history.git("rev-parse", tag).strip()
    first = history.git("rev-list", "--max-parents=0", "HEAD").strip()
    history.git("tag", "-f", "-a", "-m", "moved", tag, first)
    after = history.git("rev-parse", tag).strip()
    assert after != before
    rows = {row["tag"]: row for row in _listing(history.path, indexed=True)}
    assert rows[tag]["commit"] == first and rows[tag]["trailers"] == {}
    assert _listing(history.path, indexed=True) == _listing(history.path, indexed=False)


def test_an_entry_for_an_object_no_ref_names_is_never_consulted(history: GitRepo) -> None:
    """Keys are object ids: an invented entry changes nothing, as nothing looks it up."""
    truth = _listing(history.path, indexed=False)
    _listing(history.path, indexed=True)
    path = _section(history.path, "tags")
    doc = json.loads(path.read_text())
    doc["entries"]["f" * 40] = ["0" * 40, "Mallory <m@example.com>", 0, 0, None, "forged", {}]
    path.write_text(json.dumps(doc))
    assert _listing(history.path, indexed=True) == truth


def _log(path: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gitmodelver", "-C", str(path), "log", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_concurrent_writers_leave_a_whole_index(history: GitRepo) -> None:
    for n in range(6):
        history.git("tag", "-a", "-m", f"extra {n}", f"{NAME}@v0.0.{n}", "HEAD~1")
    expected = _log(history.path)
    folder = history.path / ".git" / "modelver" / "index"
    for _ in range(3):
        for file in folder.glob("*.json"):
            file.unlink()
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            outputs = pool.map(_log, [history.path] * 8)
        assert set(outputs) == {expected}
        doc = json.loads(_section(history.path, "tags").read_text())
        assert len(doc["entries"]) == 9
        assert not list(folder.glob(".*.tmp"))


def test_a_leftover_temporary_file_of_a_killed_writer_is_ignored(history: GitRepo) -> None:
    truth = _listing(history.path, indexed=False)
    folder = history.path / ".git" / "modelver" / "index"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".tags.json.99999.tmp").write_bytes(b'{"format": "gitmodelver-index", "sect')
    assert _listing(history.path, indexed=True) == truth
    assert json.loads(_section(history.path, "tags").read_text())["format"] == index.FORMAT


def test_an_index_folder_that_cannot_be_made_only_costs_speed(history: GitRepo) -> None:
    """`.git/modelver/index` taken by a file (as a folder without write permission would be for anyone
    but root): nothing is kept, and every answer is still Git's."""
    truth = _listing(history.path, indexed=False)
    folder = history.path / ".git" / "modelver" / "index"
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_bytes(b"not a folder")
    assert index.folder(Repo(history.path)) is None
    assert _listing(history.path, indexed=True) == truth
    assert _last(history.path) == _truth(history.path) == f"{NAME}@v1.0.2"
    assert history.modelver("log", "--json").code == 0
    assert folder.read_bytes() == b"not a folder"


def test_index_keys_must_be_object_ids(history: GitRepo) -> None:
    section = index.Section(Repo(history.path), "tags", versions.TAGS_SCOPE)
    with pytest.raises(ValueError, match="object ids"):
        section.put("refs/tags/x", [])


# ----------------------------------------------------------------------------- the last release


def _last(path: Path) -> str | None:
    found = released.last_release(Repo(path), NAME)
    return found.tag if found is not None else None


def _truth(path: Path) -> str | None:
    repo = Repo(path)
    head = repo.head()
    assert head is not None
    found = versions.last_release(repo, versions.list_releases(repo, NAME, indexed=False), head.id)
    return found.tag if found is not None else None


def _kept(path: Path) -> dict[str, Any]:
    try:
        return json.loads(_section(path, "last").read_text())["entries"]  # type: ignore[no-any-return]
    except FileNotFoundError:
        return {}


def test_status_keeps_the_last_release_and_a_new_tag_drops_it(history: GitRepo) -> None:
    assert history.modelver("status", "--json").json()["last"] == f"{NAME}@v1.0.2"
    head = history.git("rev-parse", "HEAD").strip()
    assert _kept(history.path) == {
        head: {NAME: [f"{NAME}@v1.0.2", history.git("rev-parse", f"{NAME}@v1.0.2").strip()]}
    }
    assert _last(history.path) == f"{NAME}@v1.0.2"

    # A tag made by hand, higher, on HEAD: the refs' state changes, so the kept answer goes.
    history.git("tag", "-a", "-m", "by hand", f"{NAME}@v7.0.0")
    assert history.modelver("status", "--json").json()["last"] == f"{NAME}@v7.0.0"
    history.git("tag", "-d", f"{NAME}@v7.0.0")
    assert history.modelver("status", "--json").json()["last"] == f"{NAME}@v1.0.2"
    history.git("pack-refs", "--all")
    history.git("tag", "-d", f"{NAME}@v1.0.2")  # deleting a packed tag rewrites packed-refs
    assert history.modelver("status", "--json").json()["last"] == f"{NAME}@v1.0.1"
    assert _last(history.path) == _truth(history.path)


def test_a_kept_answer_git_does_not_confirm_is_recomputed(history: GitRepo) -> None:
    assert _last(history.path) == f"{NAME}@v1.0.2"
    path = _section(history.path, "last")
    doc = json.loads(path.read_text())
    head = history.git("rev-parse", "HEAD").strip()
    first_tag = history.git("rev-parse", f"{NAME}@v1.0.0").strip()
    forged: list[Any] = [
        [f"{NAME}@v1.0.0", "0" * 40],  # an object that does not exist
        [f"{NAME}@v9.0.0", first_tag],  # a tag object of another version
        ["other@v1.0.0", first_tag],  # another system
        [f"{NAME}@v1.0.0+x", first_tag],  # build metadata: no release
        "nonsense",
    ]
    for entry in forged:
        doc["entries"][head] = {NAME: entry}
        path.write_text(json.dumps(doc))
        assert _last(history.path) == f"{NAME}@v1.0.2", entry
    # A tag on a commit HEAD does not contain is no answer for HEAD either.
    history.git("checkout", "-q", "-b", "side", f"{NAME}@v1.0.0")
    history.write("notes.md", "side\n")
    history.commit_all("side work")
    history.git("tag", "-a", "-m", "side", f"{NAME}@v1.0.9")
    side = history.git("rev-parse", f"{NAME}@v1.0.9").strip()
    history.git("checkout", "-q", "main")
    doc = json.loads(path.read_text()) if path.exists() else {"entries": {}}
    doc.update(format=index.FORMAT, section="last", scope=released.refs_state(Repo(history.path)))
    doc["entries"][head] = {NAME: [f"{NAME}@v1.0.9", side]}
    path.write_text(json.dumps(doc))
    assert _last(history.path) == f"{NAME}@v1.0.2"


def test_a_just_changed_refs_state_is_not_kept(history: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(released, "RACY_NS", 3600 * 10**9)
    _section(history.path, "last").unlink(missing_ok=True)
    assert released.refs_state(Repo(history.path)) is None
    assert _last(history.path) == f"{NAME}@v1.0.2"
    assert _kept(history.path) == {}


def test_during_a_merge_both_sides_count(history: GitRepo) -> None:
    history.git("checkout", "-q", "-b", "side", f"{NAME}@v1.0.0")
    history.write("notes.md", "side\n")
    history.commit_all("side work")
    history.git("tag", "-a", "-m", "side", f"{NAME}@v1.0.2-side.1")
    history.git("checkout", "-q", "main")
    history.git("merge", "--no-commit", "--no-ff", "side")
    repo = Repo(history.path)
    tips = released.tips(repo)
    assert len(tips) == 2
    found = released.last_of(repo, NAME, tips)
    assert found is not None and found.tag == f"{NAME}@v1.0.2"
    side = released.last_of(repo, NAME, [pygit2.Oid(hex=history.git("rev-parse", "side").strip())])
    assert side is not None and side.tag == f"{NAME}@v1.0.2-side.1"
    assert _kept(history.path) == {
        history.git("rev-parse", "side").strip(): {NAME: [f"{NAME}@v1.0.2-side.1", side.target]}
    }


def test_an_indexed_release_sets_every_field_a_read_one_does(history: GitRepo) -> None:
    import dataclasses

    _listing(history.path, indexed=True)
    indexed = versions.list_releases(Repo(history.path), NAME)[0]
    read = versions.list_releases(Repo(history.path), NAME, indexed=False)[0]
    assert indexed.facts is not None and read.facts is None
    for f in dataclasses.fields(versions.Release):
        assert f.name in indexed.__dict__, f.name
        if f.compare and f.name != "raw_message":
            assert getattr(indexed, f.name) == getattr(read, f.name), f.name
    assert indexed == dataclasses.replace(read, raw_message=None)


def test_version_refs_sort_plain_and_pre_releases_by_precedence(repo: GitRepo) -> None:
    seed(repo)
    head = repo.git("rev-parse", "HEAD").strip()
    names = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.10", "1.1.0-rc.2", "1.1.0", "1.0.10", "1.0.2", "01.0.0"]
    for name in [*names, "2.0.0+build", "v1.0.0", "1.0"]:
        repo.git("tag", f"{NAME}@v{name}", head)
    repo.git("tag", "other@v9.0.0", head)
    listed = [tag for tag, _, _ in versions.version_refs(Repo(repo.path), NAME)]
    order = ["1.1.0", "1.1.0-rc.10", "1.1.0-rc.2", "1.1.0-rc.1", "1.0.10", "1.0.2", "1.0.0"]
    assert listed == [f"{NAME}@v{v}" for v in order]
    found = versions.version_refs(Repo(repo.path), NAME)
    assert all(str(version) == tag.split("@v", 1)[1] for tag, version, _ in found)
    assert found[0][1].precedence_key == (1, 1, 0, 1, ())


def test_a_long_log_prints_the_same_from_kept_rows(
    history: GitRepo, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 100 versions `log --json` prints rows kept as text by tag object id: byte for byte what
    building every row prints, signed tags still judged afresh, a moved tag never meeting its old row."""
    from gitmodelver.commands import log

    head = history.git("rev-parse", "HEAD").strip()
    for n in range(110):
        history.git("tag", "-a", "-m", f"extra {n}\n\nModelver-Bump: patch", f"{NAME}@v0.{n}.0", head)
    sign_with(history, ssh_key)
    history.git("tag", "-s", "-m", "signed", f"{NAME}@v0.200.0", head)
    first = history.modelver("log", "--json").out
    kept = history.modelver("log", "--json").out
    monkeypatch.setattr(log, "COMPACT", 10**9)  # every row built, as for a short list
    built = history.modelver("log", "--json").out
    assert first == kept == built
    rows = json.loads(kept)
    assert len(rows) == 114 and rows[0]["tag"] == f"{NAME}@v1.0.2"
    signed = next(r for r in rows if r["tag"] == f"{NAME}@v0.200.0")
    assert signed["signed"] is True and signed["verified"] is True
    entries = json.loads(_section(history.path, "log-rows").read_text())["entries"]
    assert len(entries) == 113  # every unsigned one; the signed one is judged each time
    monkeypatch.setattr(log, "COMPACT", 100)
    history.git("tag", "-f", "-a", "-m", "moved", f"{NAME}@v0.5.0", f"{NAME}@v1.0.0^{{commit}}")
    moved = next(r for r in json.loads(history.modelver("log", "--json").out) if r["tag"] == f"{NAME}@v0.5.0")
    assert moved["commit"] == history.git("rev-parse", f"{NAME}@v1.0.0^{{commit}}").strip()
    assert moved["bump"] is None  # the old object said patch


def test_a_release_made_field_by_field_is_the_dataclasss() -> None:
    """Listings make releases without the frozen dataclass's setattr: every field, the same object."""
    import dataclasses

    from gitmodelver.core.semver import Version
    from gitmodelver.gitstore.versions import Release, _made

    fields = {
        "tag": "a@v1.0.0",
        "name": "a",
        "version": Version.parse("1.0.0"),
        "target": "1" * 40,
        "commit": "2" * 40,
        "annotated": True,
        "raw_message": "a@v1.0.0\n",
        "tagger": "A <a@example.com>",
        "time": 1,
        "offset": 60,
        "facts": None,
        "source": None,
        "named": "a@v1.0.0",
    }
    assert set(fields) == {f.name for f in dataclasses.fields(Release)}  # a new field must be set there too
    made, built = _made(**fields), Release(**fields)
    assert made == built and made.__dict__ == built.__dict__
