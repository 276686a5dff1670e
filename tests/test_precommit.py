"""End to end through the real pre-commit framework, in a consumer repository.

The hook repository is a git copy of this project's `.pre-commit-hooks.yaml` with `language: system`
instead of `language: python`: the hooks, ids, stages and file filters are ours as published, only
pre-commit's venv build (a pip install of the whole package, offline-hostile and slow) is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import MANIFEST, GitRepo, seed
from hookenv import ROOT, git, install_bin, path_with, release_as

from gitmodelver.scaffold import PRE_COMMIT_BLOCK

POLICY = '\n[policy]\nprompt_globs = ["prompts/**"]\n'
IDS = ("modelver-prompt-guard", "modelver-manifest", "modelver-no-raw-weights", "modelver-verify-tags")


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_bin(tmp_path / "bin")
    # pre-commit itself runs from this interpreter's environment.
    monkeypatch.setenv("PATH", path_with(folder) + os.pathsep + str(Path(sys.executable).parent))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-cache"))
    return folder


@pytest.fixture
def hook_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository publishing our .pre-commit-hooks.yaml (as pre-commit clones it)."""
    path = tmp_path / "hook-repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == list(IDS)
    assert {h["language"] for h in hooks} == {"python"}
    for h in hooks:
        h["language"] = "system"
    (path / ".pre-commit-hooks.yaml").write_text(yaml.safe_dump(hooks, sort_keys=False))
    git(path, "add", ".pre-commit-hooks.yaml")
    git(path, "commit", "-q", "-m", "hooks")
    return path, git(path, "rev-parse", "HEAD").stdout.strip()


def pre_commit(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def consumer(repo: GitRepo, hook_repo: tuple[Path, str], on_path: Path) -> GitRepo:
    seed(repo, MANIFEST + POLICY)
    url, rev = hook_repo
    hooks = "".join(f"      - id: {i}\n" for i in IDS)
    repo.write(".pre-commit-config.yaml", f"repos:\n  - repo: {url}\n    rev: {rev}\n    hooks:\n{hooks}")
    repo.commit_all("pre-commit config")
    result = pre_commit(repo, "install", "--hook-type", "pre-commit", "--hook-type", "pre-push")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def commit(repo: GitRepo, message: str) -> tuple[int, str]:
    """A real `git commit`; git shows hook output on stderr."""
    proc = git(repo.path, "commit", "-m", message, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_framework_blocks_and_passes_real_commits(consumer: GitRepo) -> None:
    repo = consumer
    # A prompt edit without `lock`: blocked, with the fix in the message.
    repo.write("prompts/system.j2", "You are terse.\n")
    repo.git("add", "prompts/system.j2")
    code, out = commit(repo, "terse")
    assert code == 1
    assert "modelver prompt guard" in out and "Failed" in out
    assert "prompts/system.j2: staged prompt does not match its pin prompts.system.sha256" in out
    assert "(fix: git modelver lock && git add modelver.toml)" in out
    # After `git modelver lock` the same commit passes.
    assert repo.modelver("lock").code == 0
    repo.git("add", "modelver.toml")
    code, out = commit(repo, "terse, locked")
    assert code == 0, out

    # A new prompt file the manifest does not name.
    repo.write("prompts/faq.j2", "FAQ\n")
    repo.git("add", "prompts/faq.j2")
    code, out = commit(repo, "faq")
    assert code == 1
    assert "prompts/faq.j2: a prompt (it matches policy.prompt_globs) that modelver.toml does not name" in out
    repo.git("rm", "-q", "--cached", "prompts/faq.j2")

    # A 20 MB model.safetensors.
    repo.write("model.safetensors", b"\0" * (20 * 1000 * 1000))
    repo.git("add", "model.safetensors")
    code, out = commit(repo, "weights")
    assert code == 1
    assert "model.safetensors: weights (19.1 MiB) staged into Git; weights are tracked by DVC" in out
    assert "dvc add model.safetensors" in out
    repo.git("rm", "-q", "--cached", "model.safetensors")


def test_the_framework_reports_every_manifest_error(consumer: GitRepo) -> None:
    repo = consumer
    text = repo.read("modelver.toml")
    text = text.replace('name = "support-bot"', 'name = "Support Bot"')
    text = text.replace("0e9e39f249a16976918f6564b8830bc894c89659", "main").replace(
        "top_p = 0.9", "top_p = 2"
    )
    repo.write("modelver.toml", text)
    repo.git("add", "modelver.toml")
    code, out = commit(repo, "broken")
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("modelver.toml:")]
    assert [line.split(": ")[1] for line in lines] == [
        "/system/name",
        "/base_model/revision",
        "/parameters/top_p",
    ]
    assert "modelver manifest" in out


def test_the_framework_pre_push_stage_verifies_tags(consumer: GitRepo, tmp_path: Path) -> None:
    repo = consumer
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    assert repo.modelver("release").code == 0
    assert git(repo.path, "push", "--follow-tags", "origin", "main", check=False).returncode == 0
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    tag = release_as(repo, "1.0.1", "patch")
    proc = git(repo.path, "push", "--follow-tags", "origin", "main", check=False)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert (
        f"{tag}: fails verify (level): Modelver-Bump says patch, but the diff from support-bot@v1.0.0" in out
    )
    assert git(remote, "tag", "--list").stdout.split() == ["support-bot@v1.0.0"]


def test_the_block_init_writes_runs_under_the_framework(repo: GitRepo, on_path: Path) -> None:
    seed(repo, MANIFEST + POLICY)
    repo.write(".pre-commit-config.yaml", "repos:\n" + PRE_COMMIT_BLOCK)
    repo.commit_all("local hooks")
    repo.write("prompts/greeting.j2", "Hey.\n")
    repo.git("add", "prompts/greeting.j2")
    proc = pre_commit(repo, "run")
    assert proc.returncode == 1
    assert "prompts/greeting.j2: staged prompt does not match" in proc.stdout
    assert repo.modelver("lock").code == 0
    repo.git("add", "modelver.toml")
    proc = pre_commit(repo, "run")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("Passed") == 3  # verify-tags belongs to pre-push
