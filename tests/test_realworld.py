"""The README's "On your own repository" steps, run exactly as written on repositories gitmodelver did not
make: a DVC pipeline project and an LLM app (``realworld``), with real git, DVC and pre-commit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import realworld
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import GitRepo

README = Path(__file__).resolve().parent.parent / "README.md"
BIN = str(Path(sys.executable).parent)


def walk() -> list[str]:
    """The shell lines of the README's "On your own repository" block."""
    text = README.read_text("utf-8")
    section = text[text.index("## On your own repository") :]
    block = section[section.index("```sh\n") + 6 : section.index("\n```", section.index("```sh\n"))]
    return [line for line in block.splitlines() if line.strip()]


def _append(path: Path) -> None:
    path.write_text(path.read_text("utf-8") + "Answer in the user's language.\n", "utf-8")


def _replace(old: str, new: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        text = path.read_text("utf-8")
        assert old in text, (path, old)
        path.write_text(text.replace(old, new), "utf-8")

    return edit


EDITS: dict[str, dict[str, Callable[[Path], None]]] = {
    "classifier": {"prompts/system.j2": _append, "params.yaml": _replace("n_est: 50", "n_est: 75")},
    "assistant": {
        "prompts/system.j2": _append,
        "params.yaml": _replace("temperature: 0.2", "temperature: 0.3"),
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GitRepo]]:
    root = tmp_path_factory.mktemp("realworld")
    yield {"classifier": realworld.classifier(root), "assistant": realworld.llm_app(root)}


def run_walk(repo: GitRepo, edits: dict[str, Callable[[Path], None]]) -> dict[str, Any]:
    """Every line of the walk in ``repo``: its exit code must be what the line's comment says."""
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for line in walk():
        command, _, comment = line.partition("  #")
        command = command.strip()
        if command.startswith("cd "):
            continue
        if command.startswith("$EDITOR "):
            edits[command.split()[1]](repo.path / command.split()[1])
            continue
        proc = subprocess.run(
            ["bash", "-c", command], cwd=repo.path, env=env, capture_output=True, text=True, check=False
        )
        expected_failure = comment.strip().startswith("exit 1")
        said = f"$ {command}\n{proc.stdout}{proc.stderr}"
        assert (proc.returncode != 0) == expected_failure, said
        if expected_failure:
            assert proc.returncode == 1, said
            assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, said
        if command == "git modelver release" and "first" not in timings:
            timings["first"] = time.perf_counter() - started
    return {"seconds_to_first_release": timings["first"]}


@pytest.mark.parametrize("name", ["classifier", "assistant"])
def test_the_readme_walk_on_a_real_project(built: dict[str, GitRepo], tmp_path: Path, name: str) -> None:
    source = built[name]
    repo = GitRepo(tmp_path / name)
    shutil.copytree(source.path, repo.path, symlinks=True)
    result = run_walk(repo, EDITS[name])
    print(f"{name}: init to first release {result['seconds_to_first_release']:.2f} s")  # noqa: T201
    log = repo.modelver("log", "--json").json()
    assert [(e["version"], e["bump"]) for e in log] == [("1.1.0", "minor"), ("1.0.0", "initial")]
    bom = (repo.path / "bom.json").read_text("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom) is None
    directories = [
        c["name"]
        for c in json.loads(bom)["components"]
        if any(p["name"] == "modelver:dvc-directory-md5" for p in c.get("properties", []))
    ]
    assert directories, "a DVC directory output is in the BOM"
    message = repo.git("tag", "-l", "--format=%(contents)", f"{name}@v1.1.0")
    assert "parameters.values." in message  # the params change is in the release's own record


def test_init_on_the_pipeline_project_names_what_is_there(built: dict[str, GitRepo], tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "classifier")
    shutil.copytree(built["classifier"].path, repo.path, symlinks=True)
    assert repo.modelver("init", "--no-hooks").code == 0
    data = tomllib.loads(repo.read("modelver.toml"))
    # the model artifact, with the raw data set it was trained on as lineage; the data set is no weight
    assert data["weights"] == {
        "text-classifier": {
            "dvc": "model.pkl",
            "trained_on": ["data/data.xml.dvc"],
            "md5": data["weights"]["text-classifier"]["md5"],
        }
    }
    assert data["parameters"]["params"] == "params.yaml"
    assert data["parameters"]["values"]["train"] == {"n_est": 50, "min_split": 0.01, "seed": 20170428}
    assert "temperature" not in repo.read("modelver.toml").split("# [parameters]")[0]
    assert data["evaluation"]["metrics"]["path"] == "eval/metrics.json"
    assert_nothing_invented(repo, data)


def test_init_on_the_llm_app_names_what_is_there(built: dict[str, GitRepo], tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "assistant")
    shutil.copytree(built["assistant"].path, repo.path, symlinks=True)
    assert repo.modelver("init", "--no-hooks").code == 0
    data = tomllib.loads(repo.read("modelver.toml"))
    assert set(data["prompts"]) == {"system", "refusal", "planner-plan", "search-query"}
    assert data["weights"]["support-lora"]["dvc"] == "adapters/support-lora.dvc"
    assert data["weights"]["support-lora"]["md5"].endswith(".dir")
    assert data["parameters"]["values"] == {"generation": {"temperature": 0.2}}
    assert sorted(data["policy"]["prompt_globs"]) == [
        "agents/planner/prompts/**/*.md",
        "agents/search/prompts/**/*.j2",
        "prompts/**/*.j2",
    ]
    assert_nothing_invented(repo, data)


def assert_nothing_invented(repo: GitRepo, data: dict[str, Any]) -> None:
    """Every value init wrote (but the name it was given and the pins it computed) is in the repository:
    a file's text holds it, or it is the path of a file or folder there."""
    corpus = "\n".join(
        p.read_text("utf-8", "replace")
        for p in repo.path.rglob("*")
        if p.is_file() and ".git" not in p.parts and p.name != "modelver.toml" and p.stat().st_size < 1 << 20
    )
    for path, value in _leaves(data):
        if path[-1] in ("sha256", "md5", "name") or path[0] == "policy" or "values" in path:
            continue
        for item in value if isinstance(value, list) else [value]:
            shown = str(item)
            assert shown in corpus or (repo.path / shown).exists(), (path, item)


def _leaves(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, str(key)))
    else:
        yield path, data


def _copy(built: dict[str, GitRepo], name: str, tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / name)
    shutil.copytree(built[name].path, repo.path, symlinks=True)
    return repo


def _ok(repo: GitRepo, *args: str) -> str:
    result = repo.modelver(*args)
    assert result.code == 0, result.err
    return result.out


def test_allow_stale_is_recorded_and_verify_holds_a_tag_to_it(
    built: dict[str, GitRepo], tmp_path: Path
) -> None:
    repo = _copy(built, "classifier", tmp_path)
    _ok(repo, "init", "--no-hooks")
    repo.commit_all("track")
    _ok(repo, "release")
    EDITS["classifier"]["params.yaml"](repo.path / "params.yaml")
    _ok(repo, "lock")
    repo.commit_all("more trees, not reproduced")
    refused = repo.modelver("release")
    assert refused.code == 1 and "train: params train.n_est 50 -> 75" in refused.err
    _ok(repo, "release", "--allow-stale")
    tag = "classifier@v1.0.1"
    message = repo.git("tag", "-l", "--format=%(contents)", tag)
    assert "Modelver-Stale: train" in message and "Shipped with a stale pipeline" in message
    report = json.loads(_ok(repo, "verify", tag, "--json"))["versions"][0]
    assert {c["name"]: c["ok"] for c in report["checks"]}["pipeline"] is True
    # the same tag without its confession: verify finds the stale stage itself
    repo.git("tag", "-d", tag)
    hidden = message.replace("Modelver-Stale: train\n", "")
    repo.git("tag", "-a", "--cleanup=verbatim", "-F", "-", tag, "HEAD", input=hidden)
    result = repo.modelver("verify", tag, "--json")
    checks = {c["name"]: c for c in result.json()["versions"][0]["checks"]}
    assert result.code == 1 and not checks["pipeline"]["ok"]
    assert "train: params train.n_est 50 -> 75" in checks["pipeline"]["detail"]


def test_status_lists_unnamed_prompts_and_track_adds_them(built: dict[str, GitRepo], tmp_path: Path) -> None:
    repo = _copy(built, "assistant", tmp_path)
    _ok(repo, "init", "--no-hooks")
    repo.write("modelver.toml", repo.read("modelver.toml").replace("[policy]", "# our policy\n[policy]"))
    repo.commit_all("track")
    repo.write("agents/search/prompts/cite.j2", "Cite {{ source }}.\n")
    status = repo.modelver("status", "--json")
    assert status.code == 1 and status.json()["unnamed"] == ["agents/search/prompts/cite.j2"]
    assert status.json()["hooks"] == {"pre-commit": False, "pre-push": False}
    assert "fix: git modelver track agents/search/prompts/cite.j2" in repo.modelver("status").out
    assert "hooks off in this clone" in repo.modelver("status").out
    _ok(repo, "track", "agents/search/prompts/cite.j2")
    text = repo.read("modelver.toml")
    assert "# our policy" in text and '[prompts.search-cite]\npath = "agents/search/prompts/cite.j2"' in text
    assert repo.modelver("status", "--json").json()["unnamed"] == []
    assert "already named" in repo.modelver("track", "agents/search/prompts/cite.j2").err
    repo.write("params-serving.yaml", "batch: 8\n")
    _ok(repo, "track", "params-serving.yaml")
    data = tomllib.loads(repo.read("modelver.toml"))
    assert data["parameters"]["params-serving"]["values"] == {"batch": 8}


def test_init_switches_the_hooks_on_and_respects_core_hooks_path(
    built: dict[str, GitRepo], tmp_path: Path
) -> None:
    repo = _copy(built, "assistant", tmp_path)
    repo.git("config", "core.hooksPath", ".githooks")
    result = repo.modelver("init", "--json")
    assert result.code == 0, result.err
    assert "native hooks" in result.json()["hooks"]
    assert (repo.path / ".githooks" / "pre-commit").exists()
    assert repo.modelver("status", "--json").json()["hooks"] == {"pre-commit": True, "pre-push": True}


def test_status_sees_the_hooks_from_a_linked_worktree(built: dict[str, GitRepo], tmp_path: Path) -> None:
    """git looks for a linked worktree's hooks in the main repository's folder: so does status."""
    repo = _copy(built, "assistant", tmp_path)
    _ok(repo, "init")
    repo.commit_all("track")
    linked = GitRepo(tmp_path / "linked")
    repo.git("worktree", "add", "-q", str(linked.path))
    assert linked.modelver("status", "--json").json()["hooks"] == {"pre-commit": True, "pre-push": True}
