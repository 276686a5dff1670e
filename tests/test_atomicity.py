"""Releases racing and releases killed half-way: one tag, or none, and a re-run finishes the job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import SigningKey
from helpers import MANIFEST, GitRepo, seed


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


def wait_for_tags(repo: GitRepo) -> list[str]:
    """Only the release process was killed: its `git tag` lives on and writes the tag a moment later."""
    deadline = time.monotonic() + 10
    while not repo.tags() and time.monotonic() < deadline:
        time.sleep(0.05)
    return repo.tags()


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
    assert repo.git("status", "--porcelain") == ""  # no version that was never released
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
    assert wait_for_tags(repo) == ["support-bot@v1.0.0"]
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain") == ""
    note = repo.modelver("status", "--json").json()["notes"]
    assert note == [
        "support-bot@v1.0.0 exists from an interrupted release: `git modelver release` completes it"
    ]
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
    assert repo.git("status", "--porcelain") == ""
    repo.git("config", "--unset", "gpg.ssh.program")
    if repo.tags():  # git wrote the unsigned tag after we died
        assert "SSH SIGNATURE" not in repo.git("cat-file", "-p", "support-bot@v1.0.0")
    result = repo.modelver("release", "--sign")
    assert result.code == 0, result.err
    assert "SSH SIGNATURE" in repo.git("cat-file", "-p", "support-bot@v1.0.0")
    assert_consistent(repo)


def test_failed_signing_leaves_a_crlf_manifest_byte_for_byte(signed_repo: GitRepo, tmp_path: Path) -> None:
    repo = signed_repo
    seed(repo, MANIFEST.replace("\n", "\r\n"))
    before = (repo.path / "modelver.toml").read_bytes()
    assert before.count(b"\r\n") == before.count(b"\n")
    repo.git("config", "gpg.ssh.program", str(signing_program(tmp_path, before="exit 1")))
    result = repo.modelver("release", "--sign")
    assert result.code == 2, result.err
    assert (repo.path / "modelver.toml").read_bytes() == before
    assert repo.git("status", "--porcelain") == ""


def kill_after_branch_moves(repo: GitRepo) -> None:
    """A reference-transaction hook that kills the release once the branch has moved, before the
    working tree is written: the one moment a crash leaves something for the user to do."""
    hook = repo.path / ".git" / "hooks" / "reference-transaction"
    hook.write_text("""#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q ' refs/heads/main$' || exit 0
release=$(ps -o ppid= -p $PPID | tr -d ' ')
kill -KILL -$release
sleep 5
""")
    hook.chmod(0o755)


def test_killed_after_moving_the_branch_names_the_one_command_that_repairs(repo: GitRepo) -> None:
    seed(repo)
    kill_after_branch_moves(repo)
    proc = start_release(repo)
    assert proc.wait(timeout=60) == -9
    (repo.path / ".git" / "hooks" / "reference-transaction").unlink()
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert repo.git("rev-parse", "HEAD") == repo.git("rev-parse", "support-bot@v1.0.0^{commit}")
    assert "modelver.toml" in repo.git("status", "--porcelain")  # the file still holds the old text
    status = repo.modelver("status", "--json").json()
    assert status["next"] is None
    assert [n.endswith("(fix: git checkout HEAD -- modelver.toml)") for n in status["notes"]] == [True]
    result = repo.modelver("release")
    assert result.code == 1
    assert "nothing to release" in result.err and "only in pins and system.version" in result.err
    assert result.err.rstrip().endswith("(fix: git checkout HEAD -- modelver.toml)")
    repo.git("checkout", "HEAD", "--", "modelver.toml")
    assert_consistent(repo)
    assert repo.modelver("status", "--json").json()["notes"] == []


def test_the_file_left_behind_with_the_index_already_written(repo: GitRepo) -> None:
    """A crash between the index update and the file write: ` M modelver.toml`, the same repair."""
    seed(repo)
    before = repo.read("modelver.toml")
    assert repo.modelver("release").code == 0
    repo.write("modelver.toml", before)
    assert repo.git("status", "--porcelain") == " M modelver.toml\n"
    result = repo.modelver("release")
    assert result.code == 1 and "git checkout HEAD -- modelver.toml" in result.err
    # a real edit is no leftover: it is released, or refused as an edit, never "restored"
    repo.write("modelver.toml", before.replace("temperature = 0.2", "temperature = 0.3"))
    assert repo.modelver("status", "--json").json()["notes"] == []
