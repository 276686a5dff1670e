"""`init` on a real repository: scans prompts and DVC pointers, pins them, wires hooks and DVC."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib

import pytest
from helpers import GitRepo


def test_init_scans_pins_and_wires(repo: GitRepo) -> None:
    repo.write("prompts/system.j2", "You are helpful.\n")
    repo.write("prompts/tools/search.txt", "Search first.\n")
    repo.write("prompts/notes.bin", b"\x00not a prompt")
    repo.write(
        "models/adapter.safetensors.dvc",
        "outs:\n- md5: " + "a" * 32 + "\n  size: 10\n  path: adapter.safetensors\n",
    )
    result = repo.modelver("init", "--name", "helper-bot", "--no-dvc", "--json")
    assert result.code == 0, result.err
    data = tomllib.loads(repo.read("modelver.toml"))
    assert data["system"]["name"] == "helper-bot"
    assert set(data["prompts"]) == {"system", "search"}
    assert data["prompts"]["search"]["path"] == "prompts/tools/search.txt"
    assert len(data["prompts"]["system"]["sha256"]) == 64
    assert data["weights"]["adapter"] == {"dvc": "models/adapter.safetensors.dvc", "md5": "a" * 32}
    assert "modelver-prompt-guard" in repo.read(".pre-commit-config.yaml")
    # comments survive for the person who edits it next
    assert "# [base_model]" in repo.read("modelver.toml")
    assert repo.modelver("status", "--json").json()["stale"] == []


def test_init_globs_match_exactly_the_prompts_it_names(repo: GitRepo) -> None:
    """Files beside the prompts (.gitkeep, config.yaml) are no prompts: the hook must let them through."""
    repo.write("prompts/system.j2", "You are helpful.\n")
    repo.write("prompts/tools/search.txt", "Search first.\n")
    repo.write("prompts/.gitkeep", "")
    repo.write("prompts/.drafts/idea.j2", "Not yet.\n")
    repo.write("prompts/config.yaml", "temperature: 0.2\n")
    assert repo.modelver("init", "--name", "helper-bot", "--no-dvc").code == 0
    data = tomllib.loads(repo.read("modelver.toml"))
    assert data["policy"]["prompt_globs"] == ["prompts/**/*.j2", "prompts/**/*.txt"]
    named = {p["path"] for p in data["prompts"].values()}
    assert named == {"prompts/system.j2", "prompts/tools/search.txt"}
    repo.git("add", "modelver.toml", "prompts/system.j2", "prompts/tools/search.txt")
    repo.git("add", "prompts/.gitkeep", "prompts/config.yaml")
    hook = repo.modelver("hook", "pre-commit")
    assert hook.code == 0, hook.err


def test_init_without_prompts_guards_no_glob(repo: GitRepo) -> None:
    repo.write("prompts/.gitkeep", "")
    assert repo.modelver("init", "--name", "empty", "--no-dvc").code == 0
    text = repo.read("modelver.toml")
    assert "prompt_globs" not in tomllib.loads(text)["policy"]
    assert '# prompt_globs = ["prompts/**/*.j2"]' in text
    repo.git("add", "modelver.toml", "prompts/.gitkeep")
    assert repo.modelver("hook", "pre-commit").code == 0


def test_init_refuses_to_overwrite(repo: GitRepo) -> None:
    repo.write("modelver.toml", '[system]\nname = "x"\n')
    result = repo.modelver("init", "--no-dvc")
    assert result.code == 2 and "already exists" in result.err and "--force" in result.err


def test_init_keeps_an_existing_pre_commit_config(repo: GitRepo) -> None:
    repo.write(".pre-commit-config.yaml", "repos:\n  - repo: local\n    hooks: []\n")
    assert repo.modelver("init", "--no-dvc").code == 0
    text = repo.read(".pre-commit-config.yaml")
    assert text.startswith("repos:\n  - repo: local\n    hooks: []\n")
    assert text.count("modelver-manifest") == 1
    (repo.path / "modelver.toml").unlink()
    assert repo.modelver("init", "--no-dvc").code == 0
    assert repo.read(".pre-commit-config.yaml").count("modelver-manifest") == 1


def test_init_runs_dvc_init(repo: GitRepo) -> None:
    repo.write("prompts/a.txt", "a\n")
    result = repo.modelver("init")
    assert result.code == 0, result.err
    assert (repo.path / ".dvc" / "config").exists()


@pytest.mark.skipif(shutil.which("gto") is None, reason="gto is not installed")
def test_gto_reads_our_releases(repo: GitRepo) -> None:
    repo.write("prompts/a.txt", "a\n")
    repo.modelver("init", "--name", "bot", "--no-dvc")
    repo.commit_all("init")
    assert repo.modelver("release").code == 0
    repo.write("prompts/a.txt", "b\n")
    repo.modelver("lock")
    repo.commit_all("edit")
    assert repo.modelver("release").code == 0
    out = subprocess.run(
        ["gto", "show", "bot", "--json"], cwd=repo.path, capture_output=True, text=True, check=True
    )
    assert [v["version"] for v in json.loads(out.stdout)] == ["v1.1.0", "v1.0.0"]
