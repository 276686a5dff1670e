"""Hardening of what files a manifest reaches: symlinked prompts are the files they lead to, DVC paths stay
inside the repository, manifests nest at most 32 levels, and nothing is read from `.git`.

Every case runs on a real repository (and a real bare remote with the pre-receive hook, or real DVC, where
that is where the hole was).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pygit2
import pytest
from dvc_helpers import TAG, DvcProject, retag, rewrite, show, tag_message
from helpers import MANIFEST, GitRepo, seed
from hookenv import git, install_bin, path_with

import gitmodelver
from gitmodelver.cli import main
from gitmodelver.core import pins
from gitmodelver.gitstore import plumbing
from gitmodelver.gitstore.tree import CommitTree, WorkTree

pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)

ALIAS = '\n[prompts.alias]\npath = "prompts/alias.j2"\n'
BASE = "You are terse.\n"
V1 = "support-bot@v1.0.0"
MAX_DEPTH = 32  # validate.MAX_DEPTH, the contract


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unlocked(repo: GitRepo, manifest: str, files: dict[str, str]) -> None:
    """A committed system that was never locked (``seed`` locks, which some of these must refuse)."""
    repo.write("modelver.toml", manifest)
    repo.write("prompts/system.j2", "You are a helpful support bot for {{ product }}.\n")
    repo.write("prompts/greeting.j2", "Hello {{ name }}!\n")
    for path, text in files.items():
        repo.write(path, text)
    repo.commit_all("seed")


def released(repo: GitRepo) -> str:
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


# --------------------------------------------------------------------------- 5. symlinked prompts


@pytest.fixture
def linked(repo: GitRepo) -> GitRepo:
    """A released system whose prompt `alias` is a symlink to a file that is not itself a prompt."""
    seed(repo)
    repo.write("shared/base.txt", BASE)
    os.symlink("../shared/base.txt", repo.path / "prompts" / "alias.j2")
    repo.write("modelver.toml", repo.read("modelver.toml") + ALIAS)
    assert repo.modelver("lock").code == 0
    repo.commit_all("alias")
    assert released(repo) == V1
    return repo


def test_the_pin_of_a_symlinked_prompt_is_its_targets_blob(linked: GitRepo) -> None:
    text = linked.read("modelver.toml")
    assert f'sha256 = "{sha256(BASE.encode())}"' in text
    assert sha256(b"../shared/base.txt") not in text


def test_status_sees_an_edit_of_the_target(linked: GitRepo) -> None:
    linked.write("shared/base.txt", "You are verbose.\n")
    report = linked.modelver("status", "--json").json()
    assert report["next"] == "support-bot@v1.1.0"
    assert report["stale"] == ["prompts.alias.sha256"]
    assert [(c["path"], c["level"]) for c in report["changes"]] == [("prompts.alias.sha256", "minor")]


def test_the_hook_blocks_an_edit_of_the_target_staged_alone(linked: GitRepo) -> None:
    linked.write("shared/base.txt", "You are verbose.\n")
    linked.git("add", "shared/base.txt")
    result = linked.modelver("hook", "pre-commit")
    assert result.code == 1
    assert (
        "prompts/alias.j2 -> shared/base.txt: staged prompt does not match its pin prompts.alias.sha256 "
        "in modelver.toml" in result.err
    )
    assert linked.modelver("lock").code == 0
    linked.git("add", "modelver.toml")
    assert linked.modelver("hook", "pre-commit").code == 0


def test_load_returns_the_text_of_the_target_at_the_release(linked: GitRepo) -> None:
    linked.write("shared/base.txt", "edited after the release\n")
    assert gitmodelver.load(V1, linked.path).prompt("alias") == BASE


def test_verify_catches_a_target_swapped_behind_an_unchanged_link(linked: GitRepo) -> None:
    """The release commit rewritten with other bytes in the target and the same link, same manifest."""
    commit = rewrite(
        linked, linked.git("rev-parse", f"{V1}^{{commit}}").strip(), {"shared/base.txt": b"evil\n"}
    )
    retag(linked, V1, commit, tag_message(linked, V1), sign=False)
    result = linked.modelver("verify", V1, "--json")
    assert result.code == 1
    (pins_check,) = [c for c in result.json()["versions"][0]["checks"] if c["name"] == "pins"]
    assert not pins_check["ok"]
    assert "prompts.alias.sha256 pins" in pins_check["detail"]
    assert "prompts/alias.j2 (a symlink to shared/base.txt)" in pins_check["detail"]


def test_a_dangling_link_is_refused_with_where_it_points(linked: GitRepo) -> None:
    (linked.path / "prompts" / "alias.j2").unlink()
    os.symlink("../shared/gone.txt", linked.path / "prompts" / "alias.j2")
    result = linked.modelver("lock")
    assert result.code == 2
    assert "symlink prompts/alias.j2 -> ../shared/gone.txt points at nothing" in result.err


def _index_tree(path: Path) -> plumbing.StagedTree:
    at = plumbing.where(path)
    return plumbing.StagedTree(at, plumbing.index_listing(at))


def _tree_of_links(repo: GitRepo) -> pygit2.Repository:
    """A commit of links: chains, loops, links out of the repository and into .git, a linked folder."""
    repo.write("shared/base.txt", BASE)
    for name, target in {
        "chain1": "chain2",
        "chain2": "shared/base.txt",
        "loop1": "loop2",
        "loop2": "loop1",
        "out": "../outside.txt",
        "abs": "/etc/passwd",
        "dotgit": ".git/config",
        "folder": "shared",
        "gone": "shared/missing.txt",
    }.items():
        os.symlink(target, repo.path / name)
    repo.commit_all("links")
    return pygit2.Repository(str(repo.path))


@pytest.mark.parametrize("kind", ["commit", "index", "worktree"])
def test_links_are_followed_inside_the_tree_and_stop_where_they_must(repo: GitRepo, kind: str) -> None:
    from gitmodelver.core.filerefs import MAX_LINKS, follow

    git_repo = _tree_of_links(repo)
    tree = {
        "commit": lambda: CommitTree(git_repo, git_repo.head.peel(pygit2.Commit), "HEAD"),
        "index": lambda: _index_tree(repo.path),
        "worktree": lambda: WorkTree(repo.path),
    }[kind]()
    assert follow(tree, "chain1").path == "shared/base.txt"
    assert follow(tree, "folder/base.txt").path == "shared/base.txt"
    assert pins.file_pin(tree, "chain1")[0] == sha256(BASE.encode())
    assert pins.file_pin(tree, "folder/base.txt")[0] == sha256(BASE.encode())
    assert follow(tree, "loop1").problem == f"symlinks loop: more than {MAX_LINKS} followed from loop1"
    assert follow(tree, "out").problem == "symlink leaves the repository: out -> ../outside.txt"
    assert follow(tree, "abs").problem == "symlink leaves the repository: abs -> /etc/passwd"
    assert follow(tree, "dotgit").problem == "symlink dotgit -> .git/config leads into .git"
    actual, why, file = pins.file_pin(tree, "gone")
    assert (actual, file) == (None, "shared/missing.txt")
    assert why == "symlink gone -> shared/missing.txt points at nothing (shared/missing.txt is not there)"


# --------------------------------------------------------------------------- 6. DVC paths stay inside

POINTER = "outs:\n- md5: {md5}\n  size: 5\n  hash: md5\n  path: {path}\n"
MD5 = "0123456789abcdef0123456789abcdef"
WEIGHTS = MANIFEST + '\n[weights.adapter]\ndvc = "models/adapter.dvc"\n'


@pytest.fixture
def pointed(repo: GitRepo) -> GitRepo:
    """A released system with weights named by a hand-written DVC pointer (reading it needs no DVC)."""
    unlocked(repo, WEIGHTS, {"models/adapter.dvc": POINTER.format(md5=MD5, path="adapter.bin")})
    assert repo.modelver("lock").code == 0
    repo.commit_all("lock")
    assert released(repo) == V1
    return repo


ESCAPES = {
    "dot-dot": ("../../victim.bin", "leaves the repository ('..' climbs above its root)"),
    "absolute": ("/tmp/victim.bin", "is absolute"),
    "dot-git": ("../.git/config", "is inside .git"),
}


@pytest.mark.parametrize("case", ESCAPES)
@pytest.mark.parametrize("command", ["lock", "status", "release"])
def test_a_pointer_leaving_the_repository_is_refused(pointed: GitRepo, case: str, command: str) -> None:
    path, why = ESCAPES[case]
    pointed.write("models/adapter.dvc", POINTER.format(md5="f" * 32, path=path))
    pointed.commit_all("escape")
    result = pointed.modelver(command)
    assert result.code == 2, result.out + result.err
    assert f"models/adapter.dvc: output path '{path}' {why}" in result.err


def test_a_dvc_lock_output_leaving_the_repository_is_refused(repo: GitRepo) -> None:
    outs = f"    - path: models/adapter.bin\n      md5: {MD5}\n    - path: ../victim.bin\n      md5: {MD5}\n"
    lock = f"schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n{outs}"
    unlocked(repo, MANIFEST + '\n[weights.adapter]\ndvc = "models/adapter.bin"\n', {"dvc.lock": lock})
    result = repo.modelver("lock")
    assert result.code == 2
    assert "dvc.lock: output path '../victim.bin' leaves the repository" in result.err


def test_a_pointer_wdir_leaving_the_repository_is_refused(repo: GitRepo) -> None:
    unlocked(
        repo, WEIGHTS, {"models/adapter.dvc": "wdir: ../..\n" + POINTER.format(md5=MD5, path="victim.bin")}
    )
    result = repo.modelver("lock")
    assert result.code == 2
    assert "models/adapter.dvc: wdir '../..' leaves the repository" in result.err


def test_verify_refuses_a_release_whose_pointer_leaves(pointed: GitRepo) -> None:
    escaped = POINTER.format(md5=MD5, path="../../victim.bin").encode()
    commit = rewrite(
        pointed, pointed.git("rev-parse", f"{V1}^{{commit}}").strip(), {"models/adapter.dvc": escaped}
    )
    retag(pointed, V1, commit, tag_message(pointed, V1), sign=False)
    result = pointed.modelver("verify", V1)
    assert result.code == 2, result.out + result.err
    assert f"{V1}: models/adapter.dvc: output path '../../victim.bin' leaves the repository" in result.err


def test_reproduce_never_touches_a_file_outside_its_worktree(project: DvcProject, tmp_path: Path) -> None:
    repo = project.repo
    tag = TAG.format("1.0.0")
    pointer = "models/adapter.safetensors.dvc"
    text = show(repo, tag, pointer).decode()
    escaped = text.replace("path: adapter.safetensors", "path: ../../victim.bin")
    assert escaped != text
    retag(
        repo,
        tag,
        rewrite(repo, repo.git("rev-parse", f"{tag}^{{commit}}").strip(), {pointer: escaped.encode()}),
        tag_message(repo, tag),
    )
    victim = repo.path.parent / "victim.bin"
    victim.write_bytes(b"not yours")
    worktrees = repo.git("worktree", "list")
    result = repo.modelver("reproduce", tag, "--to", str(tmp_path / "out"))
    assert result.code == 2, result.out + result.err
    assert f"{pointer}: output path '../../victim.bin' leaves the repository" in result.err
    assert victim.read_bytes() == b"not yours"
    assert not (tmp_path / "out").exists() and repo.git("worktree", "list") == worktrees


# --------------------------------------------------------------------------- 7. depth


def nested(levels: int, shape: str) -> str:
    """A section `extra` whose deepest value sits ``levels`` keys and indices below the top."""
    below = levels - 1  # `extra` is the first level
    if shape == "inline-tables":
        return "\n[extra]\nx = " + "{a = " * (below - 1) + "1" + "}" * (below - 1) + "\n"
    if shape == "arrays":
        return "\n[extra]\nx = " + "[" * (below - 1) + "1" + "]" * (below - 1) + "\n"
    if shape == "headers":
        return "\n[extra." + ".".join(["t"] * (below - 1)) + "]\nx = 1\n"
    if shape == "dotted-keys":
        return "\n[extra]\n" + ".".join(["k"] * below) + " = 1\n"
    raise AssertionError(shape)


SHAPES = ["inline-tables", "arrays", "headers", "dotted-keys"]


@pytest.mark.parametrize("shape", SHAPES)
def test_32_levels_are_a_valid_manifest(repo: GitRepo, shape: str) -> None:
    seed(repo, MANIFEST + nested(MAX_DEPTH, shape))
    assert repo.modelver("status").code == 0
    assert released(repo) == V1
    assert repo.modelver("verify").code == 0


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100, 2000])
@pytest.mark.parametrize("shape", SHAPES)
def test_deeper_is_bad_input_in_every_command(repo: GitRepo, shape: str, levels: int) -> None:
    seed(repo)
    repo.write("modelver.toml", repo.read("modelver.toml") + nested(levels, shape))
    last = repo.read("modelver.toml").count("\n")
    line = last - 1 if shape == "headers" and levels > MAX_DEPTH + 1 else last  # the header, or the value
    for command in (["status"], ["lock"], ["diff"], ["digest"], ["release", "--dry-run"]):
        result = repo.modelver(*command)
        assert result.code == 2, (command, result.err)
        assert f"modelver.toml:{line}: /extra/" in result.err, (command, result.err)
        assert f"nested more than {MAX_DEPTH} levels deep" in result.err
    repo.git("add", "modelver.toml")
    result = repo.modelver("hook", "pre-commit")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"modelver.toml:{line}: /extra/" in result.err


def test_the_location_is_the_path_where_it_goes_too_deep(repo: GitRepo) -> None:
    seed(repo, MANIFEST + nested(MAX_DEPTH, "headers"))
    text = repo.read("modelver.toml").replace("x = 1", "x = [[1]]")
    repo.write("modelver.toml", text)
    result = repo.modelver("status")
    assert result.code == 2
    line = text.splitlines().index("x = [[1]]") + 1
    location = "/extra" + "/t" * (MAX_DEPTH - 2) + "/x/0"  # the 33rd level: the first array's element
    assert f"modelver.toml:{line}: {location}: nested more than 32" in result.err


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", path_with(install_bin(tmp_path / "bin")))
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    assert main(["install-hooks", "--server", str(remote)]) == 0
    return remote


@pytest.mark.parametrize(("shape", "levels"), [("inline-tables", 100), ("arrays", 2000)])
def test_pre_receive_rejects_only_the_version_that_is_too_deep(
    repo: GitRepo, bare: Path, shape: str, levels: int
) -> None:
    seed(repo)
    assert released(repo) == V1
    deep = repo.read("modelver.toml").replace('version = "1.0.0"', 'version = "1.1.0"')
    repo.write("modelver.toml", deep + nested(levels, shape))
    commit = repo.commit_all("too deep")
    message = f"support-bot v1.1.0 (minor)\n\nModelver-Bump: minor\nModelver-Previous: {V1}\n"
    repo.git("tag", "-a", "--no-sign", "-F", "-", "support-bot@v1.1.0", commit, input=message)
    repo.git("remote", "add", "origin", str(bare))

    push = git(repo.path, "push", "origin", "main", V1, "support-bot@v1.1.0", check=False)
    assert push.returncode != 0 and "pre-receive hook declined" in push.stderr
    assert "internal error" not in push.stderr
    rejected = [line for line in push.stderr.splitlines() if line.startswith("remote: support-bot@")]
    assert rejected and all(line.startswith("remote: support-bot@v1.1.0: ") for line in rejected)
    assert f"nested more than {MAX_DEPTH} levels deep" in push.stderr
    # The other updates of the push were fine: on their own they land.
    assert (
        git(repo.path, "push", "origin", f"{V1}^{{commit}}:refs/heads/main", V1, check=False).returncode == 0
    )


def test_pre_receive_rejects_a_version_whose_pointer_leaves(pointed: GitRepo, bare: Path) -> None:
    escaped = POINTER.format(md5=MD5, path="../../victim.bin").encode()
    commit = rewrite(
        pointed, pointed.git("rev-parse", f"{V1}^{{commit}}").strip(), {"models/adapter.dvc": escaped}
    )
    retag(pointed, V1, commit, tag_message(pointed, V1), sign=False)
    pointed.git("remote", "add", "origin", str(bare))
    push = git(pointed.path, "push", "origin", f"{commit}:refs/heads/main", V1, check=False)
    assert push.returncode != 0 and "internal error" not in push.stderr
    why = "models/adapter.dvc: output path '../../victim.bin' leaves the repository"
    assert f"remote: {V1}: fails verify: {V1}: {why}" in push.stderr


# --------------------------------------------------------------------------- what the fuzz test found

BAD_VALUES = {
    "4301 digits": ("9" * 4301, "malformed TOML: an integer outside TOML's 64-bit range"),
    "hex of 5000 digits": ("0x" + "f" * 5000, "/extra/x: an integer outside TOML's 64-bit range"),
    "2^63": (str(2**63), "/extra/x: an integer outside TOML's 64-bit range"),
    "nan": ("nan", "/extra/x: nan and inf have no canonical form"),
    "-inf": ("-inf", "/extra/x: nan and inf have no canonical form"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_values_no_digest_can_hold_are_bad_input_with_their_line(repo: GitRepo, case: str) -> None:
    value, message = BAD_VALUES[case]
    seed(repo)
    text = repo.read("modelver.toml") + f"\n[extra]\nx = {value}\n"
    repo.write("modelver.toml", text)
    where = f"modelver.toml:{text.count(chr(10))}: {message}"
    for command in ("status", "lock", "digest"):
        result = repo.modelver(command)
        assert result.code == 2 and where in result.err, (command, result.err)
    repo.git("add", "modelver.toml")
    result = repo.modelver("hook", "pre-commit")
    assert result.code == 1 and where in result.err


def test_a_nul_in_a_path_is_bad_input(repo: GitRepo) -> None:
    unlocked(repo, MANIFEST.replace('path = "prompts/system.j2"', 'path = "prompts/sys\\u0000tem.j2"'), {})
    for command in ("status", "lock"):
        result = repo.modelver(command)
        assert result.code == 2, (command, result.err)
        assert "modelver.toml:10: /prompts/system/path: 'prompts/sys\\x00tem.j2' contains a NUL" in result.err
    result = repo.modelver("hook", "pre-commit")
    assert result.code == 1 and "'prompts/sys\\x00tem.j2' contains a NUL" in result.err
    assert "not staged" not in result.err  # no `git add` of a file that cannot exist


# --------------------------------------------------------------------------- 8a. .git


@pytest.mark.parametrize("path", [".git/config", ".git", "prompts/../.git/HEAD", ".GIT/config", "sub/.git/x"])
def test_a_reference_into_git_is_refused(repo: GitRepo, path: str) -> None:
    unlocked(repo, MANIFEST.replace('path = "prompts/system.j2"', f'path = "{path}"'), {})
    result = repo.modelver("status")
    assert result.code == 2
    assert f"modelver.toml:10: /prompts/system/path: '{path}' is inside .git" in result.err
