"""Tags that look like versions but are not releases: a version-named tag of a tree or a blob is ignored
by every command, and a tag of a release's tag leads to that release's commit."""

from __future__ import annotations

import pytest
from helpers import GitRepo, seed

from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import list_releases


@pytest.fixture
def released(repo: GitRepo) -> GitRepo:
    seed(repo)
    assert repo.modelver("release").code == 0
    return repo


@pytest.mark.parametrize("target", ["HEAD^{tree}", "HEAD:prompts/system.j2"], ids=["tree", "blob"])
def test_a_version_tag_of_a_tree_or_blob_is_no_release(released: GitRepo, target: str) -> None:
    released.git("tag", "-a", "-m", "x", "support-bot@v9.0.0", target)
    released.git("tag", "support-bot@v8.0.0", target)  # lightweight
    status = released.modelver("status", "--json")
    assert status.code == 0, status.err
    assert status.json()["last"] == "support-bot@v1.0.0"
    assert released.modelver("diff").code == 0
    verify = released.modelver("verify", "--all", "--json")
    assert verify.code == 0, verify.err
    assert [v["tag"] for v in verify.json()["versions"]] == ["support-bot@v1.0.0"]
    assert [row["tag"] for row in released.modelver("log", "--json").json()] == ["support-bot@v1.0.0"]
    shown = released.modelver("show", "v9.0.0")
    assert shown.code == 2 and "unknown version support-bot@v9.0.0" in shown.err
    released.write("prompts/system.j2", "You are terse.\n")
    assert released.modelver("lock").code == 0
    released.commit_all("terse")
    result = released.modelver("release", "--json")
    assert result.code == 0, result.err
    assert result.json()["tag"] == "support-bot@v1.1.0"


def test_a_tag_of_a_release_tag_leads_to_the_release_commit(released: GitRepo) -> None:
    commit = released.git("rev-parse", "support-bot@v1.0.0^{commit}").strip()
    released.git("tag", "-a", "-m", "nested", "support-bot@v2.0.0", "support-bot@v1.0.0")
    by_tag = {r.tag: r for r in list_releases(Repo(released.path), "support-bot")}
    assert by_tag["support-bot@v2.0.0"].commit == commit
    assert by_tag["support-bot@v2.0.0"].target == released.git("rev-parse", "support-bot@v2.0.0").strip()
    # Not a release (its object names another tag), but a clean verdict rather than a crash.
    verify = released.modelver("verify", "v2.0.0", "--json")
    assert verify.code == 1
    failed = {c["name"] for c in verify.json()["versions"][0]["checks"] if not c["ok"]}
    assert "manifest" in failed or "tag-object" in failed
