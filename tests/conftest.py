"""Real repositories in temporary folders, with an isolated HOME and git configuration."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import GitRepo, make_ssh_key  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Author\n\temail = author@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    yield


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo")


@dataclass(frozen=True)
class SigningKey:
    private: Path
    public: Path
    allowed_signers: Path
    email: str


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    folder = tmp_path_factory.mktemp("keys")
    private, public, allowed = make_ssh_key(folder, "releaser@example.com")
    return SigningKey(private, public, allowed, "releaser@example.com")


def sign_with(repo: GitRepo, key: SigningKey) -> None:
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "user.signingkey", str(key.private))
    repo.git("config", "gpg.ssh.allowedSignersFile", str(key.allowed_signers))


@pytest.fixture
def signed_repo(repo: GitRepo, ssh_key: SigningKey) -> GitRepo:
    sign_with(repo, ssh_key)
    return repo
