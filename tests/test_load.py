"""`gitmodelver.load()`: the prompt bytes and weights of the version asked for, never the working tree's."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dvc_helpers import TAG, DvcProject, env_without_dvc_cache, md5, retag, tag_message

import gitmodelver
from gitmodelver.errors import CheckFailed, UsageError

V1 = TAG.format("1.0.0")


pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)


def test_load_reads_the_version_not_the_working_tree(project: DvcProject) -> None:
    repo = project.repo
    repo.write("prompts/system.j2", "uncommitted edit\n")
    repo.write("models/adapter.safetensors", b"uncommitted weights")
    expected = project.versions[V1]

    v = gitmodelver.load(V1, repo=repo.path)
    assert v.id == V1
    trailers = repo.git("tag", "-l", "--format=%(contents)", V1)
    assert f"Modelver-Digest: {v.digest}" in trailers and f"Modelver-State: {v.state}" in trailers
    assert v.prompt("system") == expected.prompt
    adapter = v.weights("adapter")
    assert adapter.read_bytes() == expected.adapter
    assert adapter.is_relative_to(repo.path / ".git" / "modelver" / "weights")
    index = v.weights("retrieval.index")
    assert {p.name: p.read_bytes() for p in index.iterdir()} == expected.index
    assert v.params["parameters"]["temperature"] == 0.2
    v.params["parameters"]["temperature"] = 9.0
    assert v.params["parameters"]["temperature"] == 0.2  # the version cannot be changed through it
    assert gitmodelver.load(TAG.format("1.2.1"), repo=repo.path).prompt("system") == "You are terse.\n"


def test_weights_come_from_the_remote_and_are_reused(project: DvcProject) -> None:
    env_without_dvc_cache(project)
    v = gitmodelver.load(V1, repo=project.repo.path)
    path = v.weights("adapter")
    assert md5(path.read_bytes()) == md5(project.versions[V1].adapter)
    env_without_dvc_cache(project)  # once materialized, serving needs neither cache nor remote
    assert gitmodelver.load(V1, repo=project.repo.path).weights("adapter") == path


def test_a_damaged_materialized_file_is_replaced(project: DvcProject) -> None:
    v = gitmodelver.load(V1, repo=project.repo.path)
    path = v.weights("adapter")
    path.chmod(0o644)
    path.write_bytes(b"\0" * path.stat().st_size)
    assert v.weights("adapter").read_bytes() == project.versions[V1].adapter


def test_hardlinks_when_the_cache_type_says_so(project: DvcProject) -> None:
    config = project.repo.path / ".dvc" / "config.local"
    config.write_text(config.read_text() + "[cache]\n    type = hardlink\n")
    path = gitmodelver.load(V1, repo=project.repo.path).weights("adapter")
    assert path.stat().st_ino == project.object(md5(project.versions[V1].adapter)).stat().st_ino


def test_a_version_that_does_not_verify_is_refused(project: DvcProject) -> None:
    repo = project.repo
    retag(repo, V1, f"{V1}^{{commit}}", tag_message(repo, V1), sign=False)
    with pytest.raises(CheckFailed, match="does not verify: signature"):
        gitmodelver.load(V1, repo=repo.path)
    assert gitmodelver.load(V1, repo=repo.path, verify=False).prompt("system") == project.versions[V1].prompt


def test_unknown_names_say_what_exists(project: DvcProject) -> None:
    v = gitmodelver.load("v1.0.0", repo=project.repo.path)
    with pytest.raises(
        UsageError, match=r"no dvc reference weights.base \(known: weights.adapter, retrieval.index\)"
    ):
        v.weights("base")
    with pytest.raises(UsageError, match="no path reference prompts.greeting"):
        v.prompt("greeting")


def test_import_gitmodelver_stays_light() -> None:
    code = (
        "import sys, gitmodelver\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('dvc', 'pygit2', 'jsonschema')]\n"
        "assert not heavy and 'gitmodelver.dvc.loading' not in sys.modules, heavy\n"
        "from gitmodelver.dvc.loading import LoadedVersion, load\n"
        "assert gitmodelver.load is load and gitmodelver.LoadedVersion is LoadedVersion\n"
        "import gitmodelver.dvc.loading\n"
        "assert gitmodelver.load is load  # the module has its own name: nothing shadows the function\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
