"""A protected bare repository served by `git daemon` on 127.0.0.1: the same rules over a real transport.

The server's pre-receive hook is installed as on a real host; pushes go over git://, so whatever the hook
says reaches the client only as `remote: …` lines. A moved tag, a ledger rewrite and an unsigned version
are refused there, and `git push` and `git modelver push` both show the server's reason and fail; a good
release pushed with `git modelver push` comes back whole in a fresh clone over the same transport.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SigningKey, sign_with
from dvc_helpers import TAG, DvcProject, isolated, retag, tag_message
from helpers import MANIFEST, GitRepo, Result, seed
from hookenv import install_bin, path_with
from servers import GitDaemon

from gitmodelver.cli import main

pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)

SIGNED = MANIFEST + "\n[policy]\nrequire_signed = true\n"
LEDGER = "refs/heads/modelver/ledger"
V1 = TAG.format("1.0.0")
ALL_TAGS = [TAG.format(v) for v in ("1.0.0", "1.1.0", "1.2.0", "1.2.1")]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemon]:
    """One `git daemon` for the module, serving the bare repositories the tests make under ``base``.

    It runs the server hooks with this checkout's `git-modelver` on PATH and a HOME of its own.
    """
    base = tmp_path_factory.mktemp("served")
    folder = tmp_path_factory.mktemp("daemon")
    with isolated(tmp_path_factory.mktemp("daemon-home")):
        env = {**os.environ, "PATH": path_with(install_bin(folder / "bin"))}
        server = GitDaemon.start(base, folder, env)
    try:
        yield server
    finally:
        server.stop()


def served(daemon: GitDaemon, key: SigningKey, *, require_signed: bool = False) -> tuple[str, Path]:
    """A new protected bare repository: its git:// URL and its folder."""
    name = f"{uuid.uuid4().hex[:12]}.git"
    bare = daemon.base / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(bare, "config", "gpg.ssh.allowedSignersFile", str(key.allowed_signers))
    if require_signed:
        git(bare, "config", "modelver.requireSigned", "true")
    assert main(["install-hooks", "--server", str(bare)]) == 0
    return daemon.url(name), bare


def git(
    cwd: Path, *args: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, input=input, check=False, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def refs(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)").stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def remote_says(stderr: str) -> list[str]:
    """What the server's hook said, as the client shows it."""
    return [
        line.removeprefix("remote: ").strip() for line in stderr.splitlines() if line.startswith("remote: ")
    ]


def refused(proc: subprocess.CompletedProcess[str] | Result, reason: str) -> None:
    """Refused by the server, whose reason reached the client; ``reason`` is part of what it said."""
    code = proc.returncode if isinstance(proc, subprocess.CompletedProcess) else proc.code
    err = proc.stderr if isinstance(proc, subprocess.CompletedProcess) else proc.err
    assert code != 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    if isinstance(proc, subprocess.CompletedProcess):  # git itself: the server's lines, then its verdict
        assert any(reason in line for line in remote_says(err)), err
        assert "pre-receive hook declined" in err, err
    else:  # git modelver push: one line that carries the server's reason
        assert reason in err, err


def released(repo: GitRepo) -> str:
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


# --------------------------------------------------------------------------- a good release, end to end


@pytest.fixture
def published(project: DvcProject, daemon: GitDaemon, ssh_key: SigningKey) -> tuple[DvcProject, str, Path]:
    """The DVC project with two deployments, pushed whole with `git modelver push` over git://."""
    url, bare = served(daemon, ssh_key)
    repo = project.repo
    repo.git("remote", "add", "origin", url)
    for version in ("v1.0.0", "v1.1.0"):
        assert repo.modelver("deploy", version, "--env", "prod").code == 0
    result = repo.modelver("push", "origin", "--json")
    assert result.code == 0, result.out + result.err
    pushed = result.json()
    assert sorted(pushed["tags"]) == sorted(ALL_TAGS) and pushed["branch"] == "main" and pushed["ledger"]
    return project, url, bare


def test_a_good_release_travels_over_git_and_a_fresh_clone_verifies(
    published: tuple[DvcProject, str, Path], tmp_path: Path, ssh_key: SigningKey
) -> None:
    project, url, bare = published
    there = refs(bare)
    assert {f"refs/tags/{t}" for t in ALL_TAGS} | {"refs/heads/main", LEDGER} <= set(there)
    assert there[LEDGER] == project.repo.git("rev-parse", LEDGER).strip()

    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", url, str(clone.path)], check=True, timeout=120)
    clone.git("config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers))
    result = clone.modelver("verify", "--all", "--json")
    assert result.code == 0, result.out + result.err
    assert sorted(v["tag"] for v in result.json()["versions"]) == sorted(ALL_TAGS)
    # The weights went first, to the DVC remote the clone's configuration names.
    DvcProject(clone, project.remote).point_remote(project.remote)
    assert clone.modelver("verify", "--all", "--remote").code == 0
    # The ledger came along: the clone answers what prod serves.
    clone.git("fetch", "-q", "origin", f"{LEDGER}:{LEDGER}")
    envs = clone.modelver("envs", "--json")
    assert envs.code == 0 and envs.json()["prod"]["traffic"] == {TAG.format("1.1.0"): 100}, envs.out


# --------------------------------------------------------------------------- refused over the wire


def test_a_moved_version_tag_is_refused_over_the_wire(
    published: tuple[DvcProject, str, Path], ssh_key: SigningKey
) -> None:
    project, _, bare = published
    repo = project.repo
    before = refs(bare)[f"refs/tags/{V1}"]
    retag(repo, V1, "HEAD", tag_message(repo, V1))  # signed, but on another commit
    proc = git(repo.path, "push", "--force", "origin", f"refs/tags/{V1}", check=False)
    refused(proc, f"{V1}: moving a version tag is refused")
    assert refs(bare)[f"refs/tags/{V1}"] == before
    # git modelver push sees the difference before it pushes anything: a conflict, nothing sent.
    result = repo.modelver("push", "origin")
    assert result.code == 3 and f"the remote has {V1} on another object" in result.err


def drop_last_event(repo: GitRepo) -> str:
    """A ledger commit on top of the last one whose tree is the one before it: a fast-forward that drops
    the last event line, whatever files the events live in."""
    parent = repo.git("rev-parse", f"{LEDGER}~1^{{tree}}").strip()
    return repo.git("commit-tree", parent, "-p", LEDGER, "-m", "tidy the ledger").strip()


def test_a_ledger_rewrite_is_refused_over_the_wire(published: tuple[DvcProject, str, Path]) -> None:
    project, _, bare = published
    repo = project.repo
    before = refs(bare)[LEDGER]
    # A force-push of an older ledger: the last event gone.
    proc = git(repo.path, "push", "--force", "origin", f"{LEDGER}~1:{LEDGER}", check=False)
    refused(proc, "non-fast-forward update refused")
    # A fast-forward that drops the event line: the content is judged, not only the history.
    dropped = drop_last_event(repo)
    repo.git("update-ref", LEDGER, dropped)
    proc = git(repo.path, "push", "origin", LEDGER, check=False)
    said = [
        line.split(" (fix: ")[0] for line in remote_says(proc.stderr) if line.startswith("modelver/ledger:")
    ]
    assert proc.returncode != 0 and said, proc.stderr
    result = repo.modelver("push", "origin")
    assert result.code == 1, result.err
    assert f"origin refused the ledger: {said[0]}" in result.err, result.err  # the server's reason, verbatim
    assert refs(bare)[LEDGER] == before


def test_an_unsigned_version_is_refused_when_the_server_demands_signatures(
    repo: GitRepo, daemon: GitDaemon, ssh_key: SigningKey
) -> None:
    url, bare = served(daemon, ssh_key, require_signed=True)
    seed(repo)
    repo.git("remote", "add", "origin", url)
    tag = released(repo)  # the manifest does not ask for a signature; the server does
    reason = f"{tag}: unsigned, but this repository demands signed versions (modelver.requireSigned)"
    result = repo.modelver("push", "origin")
    refused(result, reason)
    assert f"origin refused 1 version tag(s): {reason}" in result.err  # which remote, what, and why
    assert f"refs/tags/{tag}" not in refs(bare)
    doc = repo.modelver("push", "origin", "--json")
    assert doc.code == 1 and any(p.startswith(reason) for p in doc.json()["problems"]), doc.out
    proc = git(repo.path, "push", "origin", f"refs/tags/{tag}", check=False)
    refused(proc, reason)
    # Signed, the same version is welcome.
    sign_with(repo, ssh_key)
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag))
    result = repo.modelver("push", "origin")
    assert result.code == 0, result.err
    assert f"refs/tags/{tag}" in refs(bare)


def test_a_policy_signature_rule_is_refused_with_the_servers_reason(
    repo: GitRepo, daemon: GitDaemon, ssh_key: SigningKey
) -> None:
    """The manifest demands signatures; a tag made without one is refused by the server's verify."""
    url, bare = served(daemon, ssh_key)
    sign_with(repo, ssh_key)
    seed(repo, SIGNED)
    repo.git("remote", "add", "origin", url)
    tag = released(repo)
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag), sign=False)
    result = repo.modelver("push", "origin")
    refused(result, f"{tag}: fails verify (signature): {tag} is not signed, but policy.require_signed is on")
    assert f"refs/tags/{tag}" not in refs(bare)
