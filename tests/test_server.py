"""A real bare remote with the pre-receive hook installed, real `git push`es, real SSH signatures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SigningKey, sign_with
from helpers import MANIFEST, GitRepo, make_ssh_key, seed
from hookenv import ROOT, git, install_bin, path_with, release_as

from gitmodelver.cli import main
from gitmodelver.gitstore.tagmsg import strip_signature

SIGNED = MANIFEST + "\n[policy]\nrequire_signed = true\n"
TAG = "support-bot@v1.0.0"


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_bin(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(folder))
    return folder


@pytest.fixture
def remote(tmp_path: Path, on_path: Path, ssh_key: SigningKey) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(bare, "config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers))
    assert main(["install-hooks", "--server", str(bare)]) == 0
    return bare


@pytest.fixture
def origin(signed_repo: GitRepo, remote: Path) -> GitRepo:
    """A signed system whose policy demands signatures, with the protected remote as origin."""
    seed(signed_repo, SIGNED)
    signed_repo.git("remote", "add", "origin", str(remote))
    return signed_repo


def push(repo: GitRepo, *refspecs: str, force: bool = False) -> subprocess.CompletedProcess[str]:
    return git(repo.path, "push", *(["--force"] if force else []), "origin", *refspecs, check=False)


def rejected(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stderr
    assert "pre-receive hook declined" in proc.stderr, proc.stderr
    return proc.stderr


def remote_tags(remote: Path) -> list[str]:
    return git(remote, "tag", "--list").stdout.split()


def released(repo: GitRepo) -> str:
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


def test_install_hooks_server_writes_pre_receive(remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    assert "gitmodelver hook: pre-receive" in hook.read_text()
    assert main(["install-hooks", "--server", str(remote)]) == 0  # ours: refreshed, not refused


def test_a_good_signed_release_is_accepted(origin: GitRepo, remote: Path) -> None:
    result = origin.modelver("release", "--push", "origin")
    assert result.code == 0, result.err
    assert remote_tags(remote) == [TAG]
    # The tag object was read from the push's quarantine: it is the one we made.
    assert git(remote, "rev-parse", TAG).stdout == origin.git("rev-parse", TAG)


def test_moving_a_version_tag_is_rejected(origin: GitRepo, remote: Path) -> None:
    assert origin.modelver("release", "--push", "origin").code == 0
    before = git(remote, "rev-parse", TAG).stdout
    origin.write("notes.txt", "later\n")
    origin.commit_all("later")
    origin.git("tag", "-f", "-s", "-m", "moved", TAG)
    err = rejected(push(origin, "main", f"refs/tags/{TAG}", force=True))
    assert f"{TAG}: moving a version tag is refused" in err
    assert git(remote, "rev-parse", TAG).stdout == before


def test_deleting_a_version_tag_is_rejected(origin: GitRepo, remote: Path) -> None:
    assert origin.modelver("release", "--push", "origin").code == 0
    err = rejected(push(origin, f":refs/tags/{TAG}"))
    assert f"{TAG}: deleting a version tag is refused: versions are permanent" in err
    assert remote_tags(remote) == [TAG]


def test_unsigned_version_tag_is_rejected_under_require_signed(origin: GitRepo, remote: Path) -> None:
    tag = released(origin)
    message = strip_signature(origin.git("tag", "-l", "--format=%(contents)", tag))
    commit = origin.git("rev-parse", f"{tag}^{{commit}}").strip()
    origin.git("tag", "-d", tag)
    origin.git("tag", "-a", "--no-sign", "--cleanup=verbatim", "-F", "-", tag, commit, input=message)
    err = rejected(push(origin, "main", f"refs/tags/{tag}"))
    assert f"{tag}: fails verify (signature): {tag} is not signed, but policy.require_signed is on" in err
    assert remote_tags(remote) == []
    assert git(remote, "rev-parse", "--verify", "-q", "main", check=False).returncode != 0  # atomic


def test_tag_signed_by_an_untrusted_key_is_rejected(origin: GitRepo, remote: Path, tmp_path: Path) -> None:
    private, public, allowed = make_ssh_key(tmp_path, "mallory@example.com")
    sign_with(origin, SigningKey(private, public, allowed, "mallory@example.com"))
    tag = released(origin)  # mallory trusts herself
    err = rejected(push(origin, "main", f"refs/tags/{tag}"))
    assert f"{tag}: fails verify (signature): {tag}: bad or untrusted signature" in err
    assert remote_tags(remote) == []


def test_server_can_demand_signatures_whatever_the_manifest_says(repo: GitRepo, remote: Path) -> None:
    seed(repo)
    repo.git("remote", "add", "origin", str(remote))
    git(remote, "config", "modelver.requireSigned", "true")
    tag = released(repo)
    err = rejected(push(repo, "main", f"refs/tags/{tag}"))
    assert f"{tag}: unsigned, but this repository demands signed versions (modelver.requireSigned)" in err
    git(remote, "config", "modelver.requireSigned", "false")
    assert push(repo, "main", f"refs/tags/{tag}").returncode == 0


def test_version_below_the_level_its_diff_demands_is_rejected(origin: GitRepo, remote: Path) -> None:
    assert origin.modelver("release", "--push", "origin").code == 0
    origin.write("prompts/system.j2", "You are terse.\n")
    assert origin.modelver("lock").code == 0
    origin.commit_all("terse")
    tag = release_as(origin, "1.0.1", "patch")  # a prompt change is minor
    err = rejected(push(origin, "main", f"refs/tags/{tag}"))
    assert (
        f"{tag}: fails verify (level): Modelver-Bump says patch, but the diff from {TAG} demands minor" in err
    )
    assert remote_tags(remote) == [TAG]


def test_level_is_judged_against_git_when_the_tag_message_names_no_previous(
    origin: GitRepo, remote: Path
) -> None:
    assert origin.modelver("release", "--push", "origin").code == 0
    origin.write("prompts/system.j2", "You are terse.\n")
    assert origin.modelver("lock").code == 0
    origin.commit_all("terse")
    tag = release_as(origin, "1.0.1", "patch")
    # Rewrite the tag as if it were a first release: no Modelver-Previous for verify to follow.
    message = strip_signature(origin.git("tag", "-l", "--format=%(contents)", tag))
    message = "".join(line for line in message.splitlines(True) if not line.startswith("Modelver-Previous"))
    origin.git("tag", "-d", tag)
    origin.git("tag", "-s", "-a", "--cleanup=verbatim", "-F", "-", tag, "HEAD", input=message)
    err = rejected(push(origin, "main", f"refs/tags/{tag}"))
    # verify derives the previous release from Git, so the missing trailer is itself the failure
    assert f"{tag}: fails verify (level): Modelver-Previous is missing, but {tag} follows {TAG}" in err


def test_levels_are_checked_between_tags_of_one_push(origin: GitRepo, remote: Path) -> None:
    first = released(origin)
    origin.write(
        "modelver.toml",
        origin.read("modelver.toml").replace("0e9e39f249a16976918f6564b8830bc894c89659", "1" * 40),
    )
    origin.commit_all("new base model")
    second = release_as(origin, "1.1.0", "minor")  # a base model swap is major
    err = rejected(push(origin, "main", f"refs/tags/{first}", f"refs/tags/{second}"))
    assert (
        f"{second}: fails verify (level): Modelver-Bump says minor, but the diff from {first} demands major"
        in err
    )
    assert remote_tags(remote) == []  # pre-receive refuses the push as a whole


def test_a_raised_level_is_accepted(origin: GitRepo, remote: Path) -> None:
    assert origin.modelver("release", "--push", "origin").code == 0
    origin.write("modelver.toml", origin.read("modelver.toml").replace("top_p = 0.9", "top_p = 0.8"))
    origin.commit_all("top_p")
    result = origin.modelver("release", "--level", "minor", "--push", "origin")
    assert result.code == 0, result.err
    assert remote_tags(remote) == [TAG, "support-bot@v1.1.0"]


def test_other_tags_may_move(origin: GitRepo) -> None:
    origin.git("tag", "nightly")
    assert push(origin, "main", "refs/tags/nightly").returncode == 0
    origin.write("notes.txt", "n\n")
    origin.commit_all("notes")
    origin.git("tag", "-f", "nightly")
    assert push(origin, "main", "refs/tags/nightly", force=True).returncode == 0


# --------------------------------------------------------------------------- the client side


@pytest.fixture
def plain_remote(tmp_path: Path) -> Path:
    """A remote without any hook: only the client's pre-push stands in the way."""
    bare = tmp_path / "plain.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    return bare


def test_native_pre_push_blocks_before_the_server_sees_it(
    repo: GitRepo, plain_remote: Path, on_path: Path
) -> None:
    seed(repo)
    repo.git("remote", "add", "origin", str(plain_remote))
    assert repo.modelver("install-hooks").code == 0
    first = released(repo)
    assert push(repo, "main", f"refs/tags/{first}").returncode == 0
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    tag = release_as(repo, "1.0.1", "patch")
    proc = push(repo, "main", f"refs/tags/{tag}")
    assert proc.returncode == 1
    assert f"{tag}: fails verify (level): Modelver-Bump says patch, but the diff from {first}" in proc.stderr
    assert "modelver: push blocked by pre-push" in proc.stderr
    assert git(plain_remote, "tag", "--list").stdout.split() == [first]
    # Deleting a version tag from the remote is stopped on the client as well.
    proc = push(repo, f":refs/tags/{first}")
    assert proc.returncode == 1 and "deleting a version tag is refused" in proc.stderr


def verify_tags(repo: GitRepo) -> subprocess.CompletedProcess[str]:
    """`git modelver hook verify-tags` typed by a person: no list of refs on stdin, no remote."""
    return subprocess.run(
        [sys.executable, "-m", "gitmodelver", "hook", "verify-tags"],
        cwd=repo.path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def test_verify_tags_checks_the_tags_on_head_when_run_by_hand(repo: GitRepo) -> None:
    seed(repo)
    released(repo)
    repo.write("modelver.toml", repo.read("modelver.toml").replace("top_p = 0.9", "top_p = 0.8"))
    repo.commit_all("top_p")
    release_as(repo, "1.0.1", "patch")
    assert verify_tags(repo).returncode == 0
    # Tampering with a released manifest breaks its digests.
    tag = "support-bot@v1.0.1"
    message = strip_signature(repo.git("tag", "-l", "--format=%(contents)", tag))
    repo.git("tag", "-d", tag)
    repo.write("modelver.toml", repo.read("modelver.toml").replace("top_p = 0.8", "top_p = 0.7"))
    repo.commit_all("tampered")
    repo.git("tag", "-a", "--cleanup=verbatim", "-F", "-", tag, input=message)
    result = verify_tags(repo)
    assert result.returncode == 1
    assert f"{tag}: fails verify" in result.stderr


def test_a_version_tag_of_a_tree_is_rejected_cleanly(origin: GitRepo, remote: Path) -> None:
    tree = origin.git("rev-parse", "HEAD^{tree}").strip()
    origin.git("tag", "-a", "-m", "not a release", "support-bot@v9.9.9", tree)
    err = rejected(push(origin, "refs/tags/support-bot@v9.9.9"))
    assert "support-bot@v9.9.9: " in err and "does not point at a commit" in err
    assert "internal error" not in err
