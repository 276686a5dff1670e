"""`push` to a real bare Git remote and a local DVC remote: weights first, then refs; clones reproduce."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import SigningKey
from dvc_helpers import TAG, DvcProject, dvc
from helpers import GitRepo, seed

V1 = TAG.format("1.0.0")
ALL_TAGS = [TAG.format(v) for v in ("1.0.0", "1.1.0", "1.2.0", "1.2.1")]


pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)


def bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def refs(remote: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(remote), "for-each-ref", "--format=%(refname)"], capture_output=True, text=True
    )
    return out.stdout.split()


@pytest.fixture
def project(built: DvcProject, tmp_path: Path) -> DvcProject:
    """A copy whose committed DVC remote is a new, empty folder, and an empty bare Git remote."""
    copy = built.copy(tmp_path)
    empty = tmp_path / "dvc-remote"
    empty.mkdir()
    (copy.repo.path / ".dvc" / "config.local").unlink()
    dvc(copy.repo, "remote", "modify", "storage", "url", str(empty))
    copy.repo.commit_all("move the DVC remote")
    copy.repo.git("remote", "add", "origin", str(bare(tmp_path / "origin.git")))
    copy.remote = empty
    return copy


def objects(remote: Path) -> set[str]:
    return {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()}


def test_push_then_a_fresh_clone_reproduces_an_old_version(
    project: DvcProject, tmp_path: Path, ssh_key: SigningKey
) -> None:
    result = project.repo.modelver("push", "origin", "--json")
    assert result.code == 0, result.out + result.err
    out = result.json()
    assert sorted(out["tags"]) == sorted(ALL_TAGS)
    assert out["branch"] == "main" and out["objects_pushed"] == len(objects(project.remote)) > 0
    origin = tmp_path / "origin.git"
    assert set(refs(origin)) == {"refs/heads/main", *(f"refs/tags/{t}" for t in ALL_TAGS)}
    # Every object of every version is on the DVC remote now.
    assert project.repo.modelver("verify", "--all", "--remote").code == 0

    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(origin), str(clone.path)], check=True)
    assert not (clone.path / ".dvc" / "cache").exists()
    clone.git("config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers))  # whom this user trusts
    result = clone.modelver("reproduce", V1, "--to", str(tmp_path / "v1"))
    assert result.code == 0, result.out + result.err
    expected = project.versions[V1]
    assert (tmp_path / "v1" / "models" / "adapter.safetensors").read_bytes() == expected.adapter
    assert {p.name: p.read_bytes() for p in (tmp_path / "v1" / "indexes" / "faq").iterdir()} == expected.index


def test_pushing_again_sends_nothing(project: DvcProject) -> None:
    assert project.repo.modelver("push").code == 0
    again = project.repo.modelver("push", "--json")
    assert again.code == 0, again.err
    assert again.json()["objects_pushed"] == 0 and again.json()["tags"] == []


def test_no_ref_moves_when_the_weights_cannot_be_uploaded(project: DvcProject, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the DVC remote should be\n")
    (project.repo.path / ".dvc" / "config.local").write_text(
        f"['remote \"storage\"']\n    url = {blocker / 'storage'}\n"
    )
    result = project.repo.modelver("push", "origin")
    assert result.code != 0
    assert "DVC" in result.err
    assert refs(tmp_path / "origin.git") == []  # no branch, and above all no tag without its weights


def test_a_tag_moved_on_the_remote_is_a_conflict(project: DvcProject, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    project.repo.git("push", "-q", "origin", f"refs/tags/{V1}")
    # Someone replaced it there with a lightweight tag on the same commit: another object all the same.
    subprocess.run(["git", "-C", str(origin), "tag", "-f", V1, f"{V1}^{{commit}}"], check=True)
    result = project.repo.modelver("push", "origin")
    assert result.code == 3
    assert f"the remote has {V1} on another object" in result.err
    assert "refs/heads/main" not in refs(origin)
    assert objects(project.remote) == set()


def test_release_push_sends_the_weights_before_the_tag(project: DvcProject, tmp_path: Path) -> None:
    repo = project.repo
    assert repo.modelver("push").code == 0
    repo.write("models/adapter.safetensors", b"new weights" * 1000)
    dvc(repo, "add", "-q", "models/adapter.safetensors")
    repo.commit_all("retrain")
    result = repo.modelver("release", "--push", "origin", "--json")
    assert result.code == 0, result.err
    new_md5 = repo.read("models/adapter.safetensors.dvc").split("md5: ")[1].split()[0]
    assert new_md5[2:] in {p.name for p in project.remote.rglob("*")}
    assert f"refs/tags/{TAG.format('1.3.0')}" in refs(tmp_path / "origin.git")


def test_init_gives_a_local_default_remote_that_push_uses(repo: GitRepo, tmp_path: Path) -> None:
    dvc(repo, "init", "-q")
    repo.write("models/adapter.safetensors", b"weights" * 100)
    dvc(repo, "add", "-q", "models/adapter.safetensors")
    repo.write("prompts/system.j2", "Be brief.\n")
    result = repo.modelver("init", "--name", "tiny", "--json")
    assert result.code == 0, result.err
    storage = Path(result.json()["dvc_remote"])
    assert storage == repo.path / ".git" / "modelver" / "dvc-storage"
    assert "modelver-local" in (repo.path / ".dvc" / "config.local").read_text()
    repo.commit_all("init")
    assert repo.modelver("release").code == 0
    repo.git("remote", "add", "origin", str(bare(tmp_path / "origin.git")))
    pushed = repo.modelver("push", "--json")
    assert pushed.code == 0, pushed.err
    assert pushed.json()["objects_pushed"] == 1 and len(objects(storage)) == 1
    assert repo.git("status", "--porcelain") == ""


def test_a_missing_remote_is_named_with_what_git_said(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    result = repo.modelver("push")
    assert result.code == 2  # cannot reach: usage, not a missing object
    said = "fatal: 'origin' does not appear to be a git repository"
    assert f"cannot reach Git remote origin: {said}" in result.err
    assert "no remote of that name is configured (add it with `git remote add origin <url>`" in result.err
    assert "fix:" not in result.err  # no command can know the URL
    # release --push reaches `git push` itself: the same first line, never the tail of git's advice.
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    pushed = repo.modelver("release", "--push", "nowhere")
    assert pushed.code == 1
    assert "fatal: 'nowhere' does not appear to be a git repository" in pushed.err, pushed.err
    assert "and the repository exists" not in pushed.err
