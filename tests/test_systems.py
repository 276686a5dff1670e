"""Several systems in one repository: each is chosen alone, a broken manifest blocks only itself, commands
that read every system cover them all, and a full tag ``NAME@vX.Y.Z`` names its own system anywhere."""

from __future__ import annotations

import pytest
from helpers import GitRepo

import gitmodelver
from gitmodelver.errors import UnknownVersion
from gitmodelver.gitstore import versions
from gitmodelver.gitstore.repo import Repo

SYSTEMS = {"alpha": "a", "beta": "b"}


def manifest(name: str) -> str:
    return (
        f'[system]\nname = "{name}"\n\n[prompts.system]\npath = "prompts/system.j2"\n\n'
        "[parameters]\ntemperature = 0.2\n"
    )


def release(repo: GitRepo, name: str) -> str:
    result = repo.modelver("--system", name, "release", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


@pytest.fixture
def two(repo: GitRepo) -> GitRepo:
    """alpha in a/ and beta in b/, each released twice (v1.0.0, then a patch v1.0.1)."""
    for name, folder in SYSTEMS.items():
        repo.write(f"{folder}/modelver.toml", manifest(name))
        repo.write(f"{folder}/prompts/system.j2", f"You are {name}.\n")
    repo.commit_all("two systems")
    for name in SYSTEMS:
        assert repo.modelver("--system", name, "lock").code == 0
    repo.commit_all("lock")
    for name in SYSTEMS:
        release(repo, name)
    for name, folder in SYSTEMS.items():
        repo.write(f"{folder}/modelver.toml", repo.read(f"{folder}/modelver.toml").replace("0.2", "0.3"))
        repo.commit_all(f"{name} warmer")
        assert release(repo, name) == f"{name}@v1.0.1"
    return repo


def break_beta(repo: GitRepo) -> None:
    repo.write("b/modelver.toml", '[system\nname = "beta"\n')


# --------------------------------------------------------------------------- one broken manifest


def test_a_broken_manifest_blocks_only_its_own_system(two: GitRepo) -> None:
    break_beta(two)
    status = two.modelver("--system", "alpha", "status", "--json")
    assert status.code == 0, status.err
    assert status.json()["system"] == "alpha"
    assert two.modelver("--system", "alpha", "show", "v1.0.0").code == 0
    # The broken one is reported where it matters: when it is the one asked for, or could be.
    beta = two.modelver("-C", str(two.path / "b"), "status")
    assert beta.code == 2 and "b/modelver.toml" in beta.err
    unknown = two.modelver("--system", "gamma", "status")
    assert unknown.code == 2
    assert "alpha" in unknown.err and "b/modelver.toml (unreadable: " in unknown.err


def test_a_broken_manifest_is_skipped_when_listing_every_system(two: GitRepo) -> None:
    break_beta(two)
    result = two.modelver("log", "--json")
    assert result.code == 0, result.err
    assert [row["tag"] for row in result.json()] == ["alpha@v1.0.1", "alpha@v1.0.0"]


def test_a_schema_invalid_manifest_is_validated_only_when_selected(two: GitRepo) -> None:
    two.write("b/modelver.toml", manifest("beta").replace("0.2", '"warm"'))
    assert two.modelver("--system", "alpha", "status").code == 0
    beta = two.modelver("--system", "beta", "status")
    assert beta.code == 2 and "/parameters/temperature" in beta.err


# --------------------------------------------------------------------------- every system


def test_log_without_system_lists_every_system_highest_first(two: GitRepo) -> None:
    result = two.modelver("log", "--json")
    assert result.code == 0, result.err
    rows = result.json()
    assert [row["tag"] for row in rows] == ["alpha@v1.0.1", "alpha@v1.0.0", "beta@v1.0.1", "beta@v1.0.0"]
    assert [row["version"] for row in rows] == ["1.0.1", "1.0.0"] * 2
    assert two.modelver("log", "--limit", "1", "--json").json()[1]["tag"] == "beta@v1.0.1"
    text = two.modelver("log").out
    assert "alpha@v1.0.1" in text and "beta@v1.0.0" in text
    # Inside a system's folder, that system is meant.
    inside = two.modelver("-C", str(two.path / "b"), "log", "--json").json()
    assert [row["tag"] for row in inside] == ["beta@v1.0.1", "beta@v1.0.0"]


def test_verify_all_without_system_verifies_every_system(two: GitRepo) -> None:
    result = two.modelver("verify", "--all", "--json")
    assert result.code == 0, result.err
    assert sorted(v["tag"] for v in result.json()["versions"]) == sorted(
        f"{n}@v{v}" for n in SYSTEMS for v in ("1.0.0", "1.0.1")
    )
    last = two.modelver("verify", "--json").json()["versions"]
    assert [v["tag"] for v in last] == ["alpha@v1.0.1", "beta@v1.0.1"]
    only = two.modelver("--system", "beta", "verify", "--all", "--json").json()["versions"]
    assert [v["tag"] for v in only] == ["beta@v1.0.1", "beta@v1.0.0"]


# --------------------------------------------------------------------------- full tags across systems


def test_resolve_takes_the_system_from_a_full_tag(two: GitRepo) -> None:
    repo = Repo(two.path)
    assert versions.resolve(repo, "beta@v1.0.0", "alpha").tag == "beta@v1.0.0"
    assert versions.resolve(repo, "v1.0.0", "alpha").tag == "alpha@v1.0.0"
    with pytest.raises(UnknownVersion, match="does not say which system"):
        versions.resolve(repo, "v1.0.0")
    with pytest.raises(UnknownVersion, match="gamma has no releases"):
        versions.resolve(repo, "gamma@v1.0.0", "alpha")


@pytest.mark.parametrize("where", [["--system", "alpha"], []], ids=["other-system", "no-system"])
def test_version_commands_take_the_system_from_a_full_tag(two: GitRepo, where: list[str]) -> None:
    show = two.modelver(*where, "show", "beta@v1.0.0", "--json")
    assert show.code == 0, show.err
    assert show.json()["manifest"]["system"]["name"] == "beta"
    verify = two.modelver(*where, "verify", "beta@v1.0.0", "alpha@v1.0.1", "--json")
    assert verify.code == 0, verify.err
    assert [v["tag"] for v in verify.json()["versions"]] == ["beta@v1.0.0", "alpha@v1.0.1"]
    lineage = two.modelver(*where, "lineage", "beta@v1.0.1", "--format", "json")
    assert lineage.code == 0, lineage.err
    assert "beta@v1.0.1" in lineage.out


def test_deploy_and_rollback_resolve_a_full_tag_of_another_system(two: GitRepo) -> None:
    # The deployment commands still select a system first; the version they are given names its own.
    deploy = two.modelver("--system", "alpha", "deploy", "beta@v1.0.1", "--env", "prod", "--json")
    assert deploy.code == 0, deploy.err
    assert deploy.json()["traffic"] == {"beta@v1.0.1": 100}
    back = two.modelver("--system", "alpha", "rollback", "--env", "prod", "--to", "beta@v1.0.0", "--json")
    assert back.code == 0, back.err
    assert back.json()["traffic"] == {"beta@v1.0.0": 100}
    short = two.modelver("--system", "alpha", "deploy", "v1.0.0", "--env", "staging", "--json")
    assert short.json()["traffic"] == {"alpha@v1.0.0": 100}


def test_load_a_full_tag_of_any_system(two: GitRepo) -> None:
    break_beta(two)  # serving reads the tag, never the working tree's manifest
    v = gitmodelver.load("beta@v1.0.0", repo=two.path)
    assert v.id == "beta@v1.0.0" and v.prompt("system") == "You are beta.\n"
    assert gitmodelver.load("v1.0.1", repo=two.path, system_name="alpha").id == "alpha@v1.0.1"


def test_load_finds_a_manifest_that_moved_since_the_release(two: GitRepo) -> None:
    two.git("mv", "b", "beta")
    two.commit_all("beta moves")
    v = gitmodelver.load("beta@v1.0.0", repo=two.path)
    assert v.manifest.file.startswith("b/modelver.toml")
    result = two.modelver("verify", "beta@v1.0.0", "--json")
    assert result.code == 0, result.err
