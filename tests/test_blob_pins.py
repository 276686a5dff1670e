"""Pins of `path` references are the sha256 of the blob git stores, as verify and the hooks read it.

Git does not always store a file's bytes: `.gitattributes` or `core.autocrlf` convert line endings on the
way in. A pin taken from the working tree's bytes would then never match the release's own blobs. A symlink
is stored as its target's name; a symlinked prompt is pinned by the blob of the file it leads to.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from helpers import MANIFEST, GitRepo, seed

ALIAS = '\n[prompts.alias]\npath = "prompts/alias.j2"\n'


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged_blob(repo: GitRepo, path: str) -> bytes:
    import subprocess

    return subprocess.run(
        ["git", "-C", str(repo.path), "cat-file", "blob", f":{path}"], capture_output=True, check=True
    ).stdout


def release_verify_and_hook(repo: GitRepo) -> None:
    """Lock, stage, the pre-commit hook passes; commit, release, verify passes; nothing left dirty."""
    assert repo.modelver("lock").code == 0
    repo.git("add", "-A")
    hook = repo.modelver("hook", "pre-commit")
    assert hook.code == 0, hook.err
    repo.git("commit", "-q", "--no-verify", "-m", "prompts")
    released = repo.modelver("release")
    assert released.code == 0, released.err
    verified = repo.modelver("verify", "--json")
    assert verified.code == 0, verified.out + verified.err
    assert repo.git("status", "--porcelain") == ""
    assert repo.modelver("status", "--json").json()["stale"] == []


def test_a_symlinked_prompt_pins_the_blob_of_its_target(repo: GitRepo) -> None:
    seed(repo)
    os.symlink("system.j2", repo.path / "prompts" / "alias.j2")
    repo.write("modelver.toml", repo.read("modelver.toml") + ALIAS)
    release_verify_and_hook(repo)
    pinned = sha256(staged_blob(repo, "prompts/system.j2"))
    assert staged_blob(repo, "prompts/alias.j2") == b"system.j2"
    assert repo.read("modelver.toml").count(f'sha256 = "{pinned}"') == 2  # prompts.system and the alias


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(lambda r: r.write(".gitattributes", "*.j2 text eol=crlf\n"), id="eol=crlf"),
        pytest.param(lambda r: r.git("config", "core.autocrlf", "true"), id="core.autocrlf"),
        pytest.param(lambda r: r.write("prompts/.gitattributes", "* text=auto\n"), id="nested-attributes"),
    ],
)
def test_converted_line_endings_pin_the_blob_not_the_file(repo: GitRepo, setup: object) -> None:
    seed(repo)
    assert callable(setup)
    setup(repo)
    repo.write("prompts/system.j2", b"Line one\r\nLine two\r\n")
    release_verify_and_hook(repo)
    stored = b"Line one\nLine two\n"
    assert staged_blob(repo, "prompts/system.j2") == stored
    assert f'sha256 = "{sha256(stored)}"' in repo.read("modelver.toml")


def test_a_filter_driver_libgit2_cannot_run_is_run_by_git(repo: GitRepo) -> None:
    """Like Git LFS: a `filter=NAME` driver from the git config changes what is stored."""
    seed(repo)
    repo.git("config", "filter.upper.clean", "tr a-z A-Z")
    repo.git("config", "filter.upper.smudge", "cat")
    repo.write(".gitattributes", "prompts/system.j2 filter=upper\n")
    repo.write("prompts/system.j2", "shout it\n")
    release_verify_and_hook(repo)
    stored = b"SHOUT IT\n"
    assert staged_blob(repo, "prompts/system.j2") == stored
    assert f'sha256 = "{sha256(stored)}"' in repo.read("modelver.toml")


def test_a_crlf_manifest_is_committed_as_git_would_store_it(repo: GitRepo) -> None:
    """With `text` on for the manifest, its release commit holds LF; the working tree keeps CRLF."""
    repo.write(".gitattributes", "*.toml text eol=crlf\n")
    seed(repo, MANIFEST.replace("\n", "\r\n"))
    assert repo.modelver("release").code == 0
    assert repo.git("status", "--porcelain") == ""
    assert b"\r\n" not in staged_blob(repo, "modelver.toml")
    raw = (repo.path / "modelver.toml").read_bytes()
    assert b'version = "1.0.0"' in raw and raw.count(b"\n") == raw.count(b"\r\n")
    assert repo.modelver("verify").code == 0
