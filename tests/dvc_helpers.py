"""A released system whose weights live in DVC: real `dvc init/add/push`, a local DVC remote, SSH-signed tags.

Building one costs a few seconds of DVC, so test modules build it once (``build`` under ``isolated``) and
give each test a copy (``DvcProject.copy``) to tamper with.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pytest
from conftest import SigningKey, sign_with
from helpers import GitRepo

from gitmodelver.gitstore import tagmsg

MANIFEST = """\
# support bot, with weights in DVC
[system]
name = "support-bot"

[base_model]
id = "meta-llama/Llama-3.1-8B-Instruct"
revision = "0e9e39f249a16976918f6564b8830bc894c89659"

[weights.adapter]
dvc = "models/adapter.safetensors.dvc"

[prompts.system]
path = "prompts/system.j2"

[retrieval]
embedding_model = "BAAI/bge-small-en-v1.5"
chunk_size = 512
index = { dvc = "indexes/faq.dvc" }

[parameters]
temperature = 0.2

[policy]
require_signed = true
"""

TAG = "support-bot@v{}"


def dvc(repo: GitRepo | Path, *args: str) -> str:
    """The real DVC command line, as a user runs it."""
    cwd = repo.path if isinstance(repo, GitRepo) else repo
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed: {proc.stderr or proc.stdout}")
    return proc.stdout


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_path(path: Path) -> str:
    return md5(path.read_bytes())


@dataclass(frozen=True)
class Version:
    """What a release holds, kept by the test to compare with what the tool materializes."""

    tag: str
    adapter: bytes
    prompt: str
    index: dict[str, bytes]


@dataclass
class DvcProject:
    repo: GitRepo
    remote: Path  # the DVC remote folder
    versions: dict[str, Version] = field(default_factory=dict)

    def copy(self, dest: Path) -> DvcProject:
        """An independent copy (repository, DVC cache and remote) to tamper with."""
        shutil.copytree(self.repo.path, dest / "repo", symlinks=True)
        shutil.copytree(self.remote, dest / "remote", symlinks=True)
        copy = DvcProject(GitRepo(dest / "repo"), dest / "remote", dict(self.versions))
        copy.point_remote(copy.remote)
        return copy

    def point_remote(self, url: Path | str) -> None:
        """Override the committed remote URL for this clone only (DVC merges config.local over config)."""
        (self.repo.path / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {url}\n")

    @property
    def cache(self) -> Path:
        return self.repo.path / ".dvc" / "cache"

    def object(self, md5_value: str) -> Path:
        return self.cache / "files" / "md5" / md5_value[:2] / md5_value[2:]

    def remote_object(self, md5_value: str) -> Path:
        return self.remote / "files" / "md5" / md5_value[:2] / md5_value[2:]


@contextlib.contextmanager
def isolated(home: Path) -> Iterator[None]:
    """The environment of conftest's autouse fixture, for module-scoped fixtures that run before it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.delenv("GIT_CONFIG_GLOBAL", raising=False)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            mp.delenv(var, raising=False)
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Test Author")
            mp.setenv(f"GIT_{who}_EMAIL", "author@example.com")
        mp.setenv("DVC_NO_ANALYTICS", "1")
        (home / ".gitconfig").write_text(
            "[user]\n\tname = Test Author\n\temail = author@example.com\n[init]\n\tdefaultBranch = main\n"
        )
        yield


def _weights(seed: str, size: int = 48 * 1024) -> bytes:
    # Deterministic but incompressible enough to be a stand-in for weights.
    out, block = bytearray(), seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def _release(repo: GitRepo) -> str:
    result = repo.modelver("release", "--sign", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


def _snapshot(repo: GitRepo, tag: str) -> Version:
    index = {p.name: p.read_bytes() for p in sorted((repo.path / "indexes" / "faq").iterdir())}
    return Version(
        tag,
        (repo.path / "models" / "adapter.safetensors").read_bytes(),
        repo.read("prompts/system.j2"),
        index,
    )


def _prompt(repo: GitRepo) -> None:
    repo.write("prompts/system.j2", "You are terse.\n")


def _add(repo: GitRepo, *paths: str) -> None:
    dvc(repo, "add", "-q", *paths)


def build(root: Path, key: SigningKey) -> DvcProject:
    """Four signed releases: new weights in 1.1.0, prompt and index in 1.2.0, a parameter in 1.2.1."""
    repo = GitRepo.create(root / "repo")
    remote = root / "remote"
    remote.mkdir()
    sign_with(repo, key)
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "storage", str(remote))
    repo.write("models/adapter.safetensors", _weights("adapter-1"))
    repo.write("indexes/faq/a.txt", "how do I reset my password?\n")
    repo.write("indexes/faq/b.txt", "where is my order?\n")
    repo.write("prompts/system.j2", "You are a helpful support bot for {{ product }}.\n")
    _add(repo, "models/adapter.safetensors", "indexes/faq")
    repo.write("modelver.toml", MANIFEST)
    repo.commit_all("seed")
    assert repo.modelver("lock").code == 0
    repo.commit_all("lock")
    project = DvcProject(repo, remote)
    tag = _release(repo)
    project.versions[tag] = _snapshot(repo, tag)
    for change, added in (
        (
            lambda: repo.write("models/adapter.safetensors", _weights("adapter-2")),
            ["models/adapter.safetensors"],
        ),
        (lambda: (_prompt(repo), repo.write("indexes/faq/c.txt", "how do I cancel?\n")), ["indexes/faq"]),
        (lambda: repo.write("modelver.toml", repo.read("modelver.toml").replace("0.2", "0.3")), []),
    ):
        change()
        if added:
            _add(repo, *added)
        repo.commit_all("change")
        tag = _release(repo)
        project.versions[tag] = _snapshot(repo, tag)
    dvc(repo, "push", "-q", "--all-commits")
    return project


def tag_message(repo: GitRepo, tag: str) -> str:
    """The tag's message without its signature, to recreate it elsewhere."""
    raw = repo.git("cat-file", "tag", tag)
    body = raw.split("\n\n", 1)[1]
    return tagmsg.strip_signature(body)


def retag(repo: GitRepo, tag: str, commit: str, message: str, *, sign: bool = True) -> None:
    repo.git(
        "tag",
        "-f",
        "-a",
        "-s" if sign else "--no-sign",
        "--cleanup=verbatim",
        "-F",
        "-",
        tag,
        commit,
        input=message,
    )


def rewrite(repo: GitRepo, commit: str, files: dict[str, bytes]) -> str:
    """A copy of ``commit`` (same parents and message) with some files replaced: history rewritten."""
    git = pygit2.Repository(str(repo.path))
    original = git.get(commit).peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(original.tree)
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, git.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(git)
    oid = git.create_commit(
        None, original.author, original.committer, original.message, tree, list(original.parent_ids)
    )
    return str(oid)


def show(repo: GitRepo, rev: str, path: str) -> bytes:
    proc = subprocess.run(
        ["git", "-C", str(repo.path), "show", f"{rev}:{path}"], capture_output=True, check=True
    )
    return proc.stdout


def env_without_dvc_cache(project: DvcProject) -> None:
    """Empty the DVC cache, as after `rm -rf .dvc/cache`: every object must come from the remote."""
    shutil.rmtree(project.cache, ignore_errors=True)
    os.makedirs(project.cache, exist_ok=True)
