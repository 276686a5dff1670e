"""`verify --all` remembers what it learned in the versions index (``release.verdicts``): the next run says
exactly what a fresh one says, whatever the index holds, and a verdict that depends on the other tags is
judged again when they change.

Histories are built by ``bench/_history.py`` (fast-import: one manifest per version, a tag message as
``release`` writes it), then copied per test; a version with an invalid manifest is added on top.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pygit2
import pytest
from helpers import GitRepo

from gitmodelver.release import verdicts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import _history  # noqa: E402

VERSIONS = 30  # above verify.MANY: whole versions are kept, not only manifests
INVALID = "bench@v9.0.0"
TWIN = "bench@v9.0.1"  # another tag on the same commit: one manifest blob, two versions


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "repo"
    _history.build(path, VERSIONS)
    repo = GitRepo(path)
    # a version whose manifest breaks the schema (a mutable revision, an unknown policy key)
    good = repo.read("modelver.toml")
    text = good.replace("0e9e39f249a16976918f6564b8830bc894c89659", "main")
    repo.write(
        "modelver.toml", text.replace('version = "1.0.29"', 'version = "9.0.0"') + "[policy]\nsign = 1\n"
    )
    repo.commit_all("broken")
    for tag in (INVALID, TWIN):
        repo.git("tag", "-a", "--no-sign", "-m", f"{tag} (major)\n\nModelver-Bump: major", tag)
    repo.write("modelver.toml", good)  # the working tree's manifest is valid: verify can start
    repo.commit_all("repaired")
    return path


@pytest.fixture
def repo(history: Path, tmp_path: Path) -> GitRepo:
    shutil.copytree(history, tmp_path / "repo", symlinks=True)
    return GitRepo(tmp_path / "repo")


def verify_all(repo: GitRepo) -> str:
    result = repo.modelver("verify", "--all", "--json")
    assert result.code == 1, result.err  # the broken versions fail, every other one passes
    return result.out


def index(repo: GitRepo) -> Path:
    return repo.path / ".git" / "modelver" / "index"


def fresh(repo: GitRepo) -> str:
    """What a run with nothing remembered says."""
    shutil.rmtree(index(repo), ignore_errors=True)
    return verify_all(repo)


def failures(out: str) -> dict[str, dict[str, str]]:
    return {
        v["tag"]: {c["name"]: c["detail"] for c in v["checks"] if not c["ok"]}
        for v in json.loads(out)["versions"]
        if not v["ok"]
    }


def blob_of(repo: GitRepo, tag: str) -> str:
    return repo.git("rev-parse", f"{tag}:modelver.toml").strip()


def tag_object(repo: GitRepo, tag: str) -> str:
    return repo.git("rev-parse", f"refs/tags/{tag}").strip()


def write_section(repo: GitRepo, name: str, entries: dict[str, object], scope: str | None = None) -> None:
    doc = {
        "format": "gitmodelver-index",
        "section": name,
        "scope": scope or verdicts.scope(),
        "entries": entries,
    }
    (index(repo) / f"{name}.json").write_text(json.dumps(doc))


# --------------------------------------------------------------------------- the same answer, kept or not


def test_a_second_run_says_byte_for_byte_what_the_first_said(repo: GitRepo) -> None:
    first = verify_all(repo)
    kept = json.loads((index(repo) / "versions.json").read_text())["entries"]
    assert tag_object(repo, "bench@v1.0.7") in kept  # the verdicts were kept, by tag object
    assert blob_of(repo, INVALID) in json.loads((index(repo) / "manifests.json").read_text())["entries"]
    assert verify_all(repo) == first
    assert fresh(repo) == first
    assert set(failures(first)) == {INVALID, TWIN}


def test_the_manifest_problems_name_each_version_that_holds_the_blob(repo: GitRepo) -> None:
    for out in (verify_all(repo), verify_all(repo)):
        found = failures(out)
        for tag in (INVALID, TWIN):
            assert f"modelver.toml@{tag}:" in found[tag]["manifest"], found[tag]
            assert "not an immutable revision" in found[tag]["manifest"]
            assert "unknown key 'sign'" in found[tag]["manifest"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"format": "gitmodelver-index", "section": "versi',
        b'{"format":"other"}',
        b"[1, 2]",
        b"\x00\xff" * 99,
    ],
    ids=["empty", "truncated", "foreign", "a list", "random bytes"],
)
def test_an_unreadable_index_is_rebuilt_and_changes_nothing(repo: GitRepo, content: bytes) -> None:
    first = verify_all(repo)
    for name in ("versions", "manifests"):
        (index(repo) / f"{name}.json").write_bytes(content)
    assert verify_all(repo) == first
    assert verify_all(repo) == first  # rebuilt by the run before
    assert json.loads((index(repo) / "versions.json").read_text())["format"] == "gitmodelver-index"


def test_entries_of_the_wrong_shape_are_judged_again(repo: GitRepo) -> None:
    first = verify_all(repo)
    target = tag_object(repo, "bench@v1.0.7")
    for odd in (
        [],
        [1, 2, 3, 4, 5],
        ["bench@v1.0.7", "modelver.toml", False, None, [["level", True, "x"]]],
        "ok",
    ):
        write_section(repo, "versions", {target: odd})
        write_section(repo, "manifests", {blob_of(repo, INVALID): odd})
        assert verify_all(repo) == first


# ------------------------------------------------------------------------ what an entry can and cannot claim


def test_an_entry_for_another_object_changes_nothing(repo: GitRepo) -> None:
    """A forged "valid" under any id but the manifest blob's own, or a forged verdict under a tag object
    that another tag name points at, is never consulted."""
    first = verify_all(repo)
    kept = json.loads((index(repo) / "versions.json").read_text())["entries"]
    write_section(repo, "manifests", {blob_of(repo, "bench@v1.0.7"): True, "0" * 40: True})
    write_section(repo, "versions", {tag_object(repo, TWIN): kept[tag_object(repo, INVALID)]})
    assert verify_all(repo) == first
    elsewhere = [TWIN, "sub/modelver.toml", *kept[tag_object(repo, INVALID)][2:]]
    write_section(repo, "versions", {tag_object(repo, TWIN): elsewhere})  # for a manifest elsewhere
    assert verify_all(repo) == first


def test_another_scope_drops_every_entry(repo: GitRepo) -> None:
    """Entries written under another package version, schema or code (the scope) are not read: a
    manifest another schema found valid is judged by this one."""
    first = verify_all(repo)
    good = json.loads((index(repo) / "versions.json").read_text())["entries"][
        tag_object(repo, "bench@v1.0.7")
    ]
    other = "gitmodelver 0.0.1 " + "0" * 64
    write_section(repo, "manifests", {blob_of(repo, INVALID): True}, scope=other)
    write_section(repo, "versions", {tag_object(repo, INVALID): good}, scope=other)
    assert verify_all(repo) == first


def test_an_entry_under_the_blob_id_is_believed_as_git_config_is(repo: GitRepo) -> None:
    """The index is local state beside the config and the hooks: whoever can write it can make git and
    this tool run anything. What it must not do is outlive the objects: a forged entry speaks only for
    the object whose id keys it, and `rm -rf .git/modelver/index` forgets it."""
    first = verify_all(repo)
    write_section(repo, "manifests", {blob_of(repo, INVALID): True})
    (index(repo) / "versions.json").unlink()
    believed = failures(verify_all(repo))
    assert "manifest" not in believed.get(INVALID, {})  # the schema was not run again on that blob
    assert fresh(repo) == first


# ----------------------------------------------------------------------- verdicts that depend on other tags


def test_deleting_the_previous_release_changes_the_level_check(repo: GitRepo) -> None:
    verify_all(repo)
    repo.git("tag", "-d", "bench@v1.0.6")
    kept = verify_all(repo)
    assert kept == fresh(repo)
    level = failures(kept)["bench@v1.0.7"]["level"]
    assert "Modelver-Previous names bench@v1.0.6, but bench@v1.0.7 follows bench@v1.0.5" in level


def test_adding_a_release_between_two_changes_the_level_check(repo: GitRepo) -> None:
    verify_all(repo)
    parent = repo.git("rev-parse", "bench@v1.0.7^{commit}^").strip()
    assert parent == repo.git("rev-parse", "bench@v1.0.6^{commit}").strip()
    repo.git(
        "tag", "-a", "--no-sign", "-m", "late\n\nModelver-Bump: patch", "bench@v1.0.6-rc.1", "bench@v1.0.5"
    )
    kept = verify_all(repo)
    assert kept == fresh(repo)
    assert "bench@v1.0.6" in failures(kept)  # it now follows the rc, not what its trailers say
    repo.git("tag", "-d", "bench@v1.0.6-rc.1")
    again = verify_all(repo)
    assert again == fresh(repo)
    assert "bench@v1.0.6" not in failures(again)


def test_a_tag_moved_to_another_tag_object_is_judged_afresh(repo: GitRepo) -> None:
    first = verify_all(repo)
    tag = "bench@v1.0.3"
    message = pygit2.Repository(str(repo.path)).get(tag_object(repo, tag)).message
    repo.git(
        "tag", "-f", "-a", "--no-sign", "--cleanup=verbatim", "-F", "-", tag, "bench@v1.0.4", input=message
    )
    kept = verify_all(repo)
    assert kept == fresh(repo) != first
    assert "tag-object" in failures(kept)[tag] or "manifest" in failures(kept)[tag]


def test_a_release_follows_the_same_release_whether_the_tags_were_listed_or_not(tmp_path: Path) -> None:
    """Checking a few versions (a hook, `verify VERSION`) reads tag objects only down to the previous
    release; it must find the one a listing of every release finds: hotfix branches, tags on other
    branches, version tags that are no release, build metadata, and releases not pushed yet."""
    from gitmodelver.gitstore import system, versions
    from gitmodelver.gitstore.repo import Repo
    from gitmodelver.release import verify

    repo = GitRepo.create(tmp_path / "repo")

    def release(version: str, *extra: str) -> None:
        repo.write("modelver.toml", f'[system]\nname = "bench"\nversion = "{version}"\n')
        repo.commit_all(version)
        for tag in (f"bench@v{version}", *extra):
            repo.git("tag", "-a", "--no-sign", "-m", tag, tag)

    release("1.0.0")
    release("1.1.0", "bench@v1.1.0+build.7")  # build metadata: no release
    repo.git("checkout", "-q", "-b", "hotfix")
    release("1.1.1")
    repo.git("checkout", "-q", "-")
    release("2.0.0-rc.1")
    release("2.0.0")
    blob = repo.git("hash-object", "-w", "--stdin", input="not a commit\n").strip()
    repo.git("tag", "-a", "--no-sign", "-m", "a blob", "bench@v1.5.0", blob)  # a version tag of no commit
    repo.git("checkout", "-q", "hotfix")
    release("1.1.2")
    handle = Repo(repo.path)
    (sys_,) = system.select_all(handle, None)
    listed = versions.list_releases(handle, sys_.name, indexed=False)
    assert {r.tag for r in listed} >= {"bench@v1.1.2", "bench@v2.0.0"}
    follows = {r.tag: verify.Context(handle, sys_).previous(r) for r in listed}

    def same(known: dict[str, versions.Release], releases: list[versions.Release]) -> None:
        lazily = verify.Context(handle, sys_, known=known)
        eagerly = verify.Context(handle, sys_, known=known, listed=releases)
        for r in [*releases, *known.values()]:
            found, expected = lazily.previous(r), eagerly.previous(r)
            assert (found.tag if found else None) == (expected.tag if expected else None), r.tag

    same({}, listed)
    # releases pushed together, not refs yet (pre-receive): known, followed and followed by others
    pending = {r.tag: r for r in listed if r.tag in ("bench@v2.0.0-rc.1", "bench@v1.1.1")}
    for tag in pending:
        repo.git("tag", "-d", tag)
    same(pending, versions.list_releases(handle, sys_.name, indexed=False))
    assert follows["bench@v1.1.2"].tag == "bench@v1.1.1"  # type: ignore[union-attr]
    assert follows["bench@v2.0.0"].tag == "bench@v2.0.0-rc.1"  # type: ignore[union-attr]
    assert follows["bench@v1.1.1"].tag == "bench@v1.1.0"  # type: ignore[union-attr]
    assert follows["bench@v1.0.0"] is None
