"""Releases racing and releases killed half-way: one tag, or none, and a re-run finishes the job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import SigningKey
from helpers import GitRepo, seed


def signing_program(folder: Path, *, before: str = "", after: str = "") -> Path:
    """An SSH signing program that can stall or kill the release process around the real ssh-keygen."""
    script = folder / "slow-ssh-keygen"
    script.write_text(f"""#!/bin/sh
# the release process is our grandparent: release -> git tag -> this program
release=$(ps -o ppid= -p $PPID | tr -d ' ')
{before}
ssh-keygen "$@"
code=$?
{after}
exit $code
""")
    script.chmod(0o755)
    return script


def start_release(repo: GitRepo, *args: str) -> subprocess.Popen[str]:
    # its own process group, so a kill of the group takes git and the signing program with it, like Ctrl-C
    return subprocess.Popen(
        [sys.executable, "-m", "gitmodelver", "-C", str(repo.path), "release", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )


def assert_consistent(repo: GitRepo) -> None:
    assert repo.git("status", "--porcelain") == ""
    for tag in repo.tags():
        commit = repo.git("rev-parse", f"{tag}^{{commit}}").strip()
        version = tag.split("@v", 1)[1]
        assert f'version = "{version}"' in repo.git("show", f"{commit}:modelver.toml")
        repo.git("merge-base", "--is-ancestor", commit, "HEAD")


def test_two_racing_releases_make_one_tag(signed_repo: GitRepo, ssh_key: SigningKey, tmp_path: Path) -> None:
    repo = signed_repo
    seed(repo)
    slow = signing_program(tmp_path, before="sleep 1")
    repo.git("config", "gpg.ssh.program", str(slow))
    procs = [start_release(repo, "--sign"), start_release(repo, "--sign")]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    loser = next(err for code, _, err in results if code == 3)
    assert "retry" in loser or "run the release again" in loser
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert_consistent(repo)


def test_killed_before_tag_then_rerun_completes(signed_repo: GitRepo, tmp_path: Path) -> None:
    repo = signed_repo
    seed(repo)
    head = repo.git("rev-parse", "HEAD")
    repo.git(
        "config", "gpg.ssh.program", str(signing_program(tmp_path, before="kill -KILL -$release; sleep 5"))
    )
    proc = start_release(repo, "--sign")
    assert proc.wait(timeout=60) == -9
    assert repo.tags() == []  # the whole group died while signing: git never wrote the tag
    assert repo.git("rev-parse", "HEAD") == head
    repo.git("config", "--unset", "gpg.ssh.program")
    result = repo.modelver("release", "--sign", "--json")
    assert result.code == 0, result.err
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert_consistent(repo)


def test_killed_after_tag_then_rerun_completes(signed_repo: GitRepo, tmp_path: Path) -> None:
    repo = signed_repo
    seed(repo)
    head = repo.git("rev-parse", "HEAD")
    repo.git("config", "gpg.ssh.program", str(signing_program(tmp_path, after="kill -9 $release")))
    proc = start_release(repo, "--sign")
    assert proc.wait(timeout=60) == -9
    # the tag exists but the branch never moved: an interrupted release
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert repo.git("rev-parse", "HEAD") == head
    repo.git("config", "--unset", "gpg.ssh.program")
    result = repo.modelver("release", "--sign")
    assert result.code == 0, result.err
    assert "completed the interrupted release" in result.err
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert (
        repo.git("rev-parse", "HEAD").strip() == repo.git("rev-parse", "support-bot@v1.0.0^{commit}").strip()
    )
    assert_consistent(repo)
    # and running it once more is harmless
    assert repo.modelver("release").code == 1


def test_branch_moving_during_release_is_a_conflict(signed_repo: GitRepo, tmp_path: Path) -> None:
    """Someone commits while the tag is being signed: our tag is withdrawn, their commit stays."""
    repo = signed_repo
    seed(repo)
    other = repo.git("commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "concurrent").strip()
    move = f"git -C {repo.path} update-ref refs/heads/main {other}"
    repo.git("config", "gpg.ssh.program", str(signing_program(tmp_path, before=move)))
    result = repo.modelver("release", "--sign")
    assert result.code == 3, result.err
    assert "moved" in result.err
    assert repo.tags() == []
    assert repo.git("rev-parse", "HEAD").strip() == other
    assert "modelver.toml" not in repo.git("status", "--porcelain")


def test_failed_signing_never_leaves_an_unsigned_tag(signed_repo: GitRepo, tmp_path: Path) -> None:
    """git 2.39 creates an unsigned tag and exits 0 when the SSH signing program fails; we must not."""
    repo = signed_repo
    seed(repo)
    head = repo.git("rev-parse", "HEAD")
    repo.git("config", "gpg.ssh.program", str(signing_program(tmp_path, before="exit 1")))
    result = repo.modelver("release", "--sign")
    assert result.code == 2, result.err
    assert "signing" in result.err
    assert repo.tags() == []
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain") == ""


def test_interrupted_unsigned_tag_is_replaced_when_signing(signed_repo: GitRepo, tmp_path: Path) -> None:
    """The release died after git wrote a tag without its signature; the re-run signs it properly."""
    repo = signed_repo
    seed(repo)
    repo.git("config", "gpg.ssh.program", str(signing_program(tmp_path, before="kill -9 $release; exit 1")))
    proc = start_release(repo, "--sign")
    assert proc.wait(timeout=60) == -9
    repo.git("config", "--unset", "gpg.ssh.program")
    if repo.tags():  # git wrote the unsigned tag after we died
        assert "SSH SIGNATURE" not in repo.git("cat-file", "-p", "support-bot@v1.0.0")
    result = repo.modelver("release", "--sign")
    assert result.code == 0, result.err
    assert "SSH SIGNATURE" in repo.git("cat-file", "-p", "support-bot@v1.0.0")
    assert_consistent(repo)
