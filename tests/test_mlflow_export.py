"""`export mlflow` against a real MLflow (SQLite backend, local artifact folder): every release a model
version with its tags, prompts in MLflow's prompt registry with the release's exact text, aliases that
mirror `git modelver envs`, and exports that are idempotent and incremental."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import SigningKey, sign_with
from helpers import GitRepo, Result, seed

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install gitmodelver[mlflow])")

MODEL = "support-bot"
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_LOGGING_LEVEL": "WARNING"}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in QUIET.items():
        monkeypatch.setenv(key, value)


def export(repo: GitRepo, uri: str, artifacts: Path) -> dict[str, Any]:
    result: Result = repo.modelver_proc(
        "export", "mlflow", "--tracking-uri", uri, "--artifact-location", artifacts.as_uri(), "--json"
    )
    assert result.code == 0, result.err
    return dict(result.json())


def client(uri: str) -> Any:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def by_tag(c: Any) -> dict[str, Any]:
    return {v.tags["modelver.tag"]: v for v in c.search_model_versions(f"name='{MODEL}'")}


def aliases(c: Any) -> dict[str, str]:
    """alias -> release tag, as MLflow has them."""
    versions = {str(v.version): tag for tag, v in by_tag(c).items()}
    return {a: versions[str(n)] for a, n in c.get_registered_model(MODEL).aliases.items()}


def serving(repo: GitRepo) -> dict[str, str]:
    """env -> the tag serving it at 100%, as `git modelver envs` says."""
    envs = repo.modelver("envs", "--json").json()
    return {env: next(t for t, pct in s["traffic"].items() if pct == 100) for env, s in envs.items()}


def release(repo: GitRepo, message: str) -> str:
    result = repo.modelver("release", "--sign", "-m", message, "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


@pytest.fixture
def system(repo: GitRepo, ssh_key: SigningKey) -> GitRepo:
    """Two signed releases with different prompts; prod had v1.0.0 and now serves v1.1.0, staging v1.0.0."""
    sign_with(repo, ssh_key)
    seed(repo)
    release(repo, "first release")
    repo.write("prompts/system.j2", "You are a concise support bot for {{ product }}. Cite the docs.\n")
    repo.commit_all("terser prompt")
    release(repo, "terser system prompt")
    for version, env in (("v1.0.0", "prod"), ("v1.1.0", "prod"), ("v1.0.0", "staging")):
        assert repo.modelver("deploy", version, "--env", env).code == 0
    return repo


def test_export_registers_every_release_with_prompts_and_aliases(system: GitRepo, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = export(system, uri, tmp_path / "artifacts")
    assert first["registered"] == ["support-bot@v1.0.0", "support-bot@v1.1.0"] and first["changed"]
    c = client(uri)
    versions = by_tag(c)
    assert set(versions) == {"support-bot@v1.0.0", "support-bot@v1.1.0"}
    log = {row["tag"]: row for row in system.modelver("log", "--json").json()}
    for tag, version in versions.items():
        tags, row = version.tags, log[tag]
        assert tags["modelver.version"] == tag.split("@v")[1]
        assert (tags["modelver.state"], tags["modelver.digest"]) == (row["state"], row["digest"])
        assert (tags["modelver.commit"], tags["modelver.level"]) == (row["commit"], row["bump"] or "")
        assert tags["modelver.signer"] == (row["signer"] or "")
        assert tags["modelver.verified"] == "true" == str(row["verified"]).lower()
        assert version.description.startswith(f"{tag.replace('@v', ' v')}")
        assert version.source.startswith("models:/")  # the logged model: references, no copied bytes
        for key in ("system", "greeting"):  # each prompt resolves to the exact text the release holds
            prompt = c.load_prompt(tags[f"modelver.prompt.{key}"])
            assert prompt.template == system.git("show", f"{tag}:prompts/{key}.j2")
        linked = json.loads(
            c.get_logged_model(version.source.removeprefix("models:/")).tags["mlflow.linkedPrompts"]
        )
        assert {p["name"] for p in linked} == {"support-bot.system", "support-bot.greeting"}
    assert "terser system prompt" in versions["support-bot@v1.1.0"].description
    # one prompt version per distinct text: greeting never changed, system did once
    assert len(c.search_prompt_versions("support-bot.greeting")) == 1
    assert len(c.search_prompt_versions("support-bot.system")) == 2
    assert aliases(c) == serving(system) == {"prod": "support-bot@v1.1.0", "staging": "support-bot@v1.0.0"}
    assert not any((tmp_path / "artifacts").rglob("*.j2"))  # nothing copied


def test_second_export_changes_nothing_then_follows_rollback_and_new_releases(
    system: GitRepo, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    export(system, uri, tmp_path / "artifacts")
    before = {t: (v.version, v.tags) for t, v in by_tag(client(uri)).items()}
    again = export(system, uri, tmp_path / "artifacts")
    assert not again["changed"] and again["registered"] == again["moved"] == again["prompts"] == []
    assert {t: (v.version, v.tags) for t, v in by_tag(client(uri)).items()} == before
    # a rollback moves @prod on the next export, and nothing else
    assert system.modelver("rollback", "--env", "prod").code == 0
    moved = export(system, uri, tmp_path / "artifacts")
    assert moved["moved"] == ["@prod -> support-bot@v1.0.0"] and moved["registered"] == []
    assert (
        aliases(client(uri))
        == serving(system)
        == {"prod": "support-bot@v1.0.0", "staging": "support-bot@v1.0.0"}
    )
    # a new release: only it is added (incremental), its changed greeting a new prompt version
    system.write("prompts/greeting.j2", "Hi {{ name }}, how can I help?\n")
    system.commit_all("friendlier greeting")
    release(system, "friendlier greeting")
    added = export(system, uri, tmp_path / "artifacts")
    assert added["registered"] == ["support-bot@v1.2.0"] and added["prompts"] == [
        "prompts:/support-bot.greeting/2"
    ]
    assert len(by_tag(client(uri))) == 3


def test_export_without_releases_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    seed(repo)
    result = repo.modelver("export", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path / 'db'}", "--json")
    assert result.code == 2 and "no releases" in result.json()["error"]
    assert not (tmp_path / "db").exists()


def test_status_and_hooks_do_not_import_mlflow(repo: GitRepo) -> None:
    seed(repo)
    probe = (
        "import sys; from gitmodelver.cli import main; main(['-C', sys.argv[1], 'status']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'inspect_ai')))"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", probe, str(repo.path)], capture_output=True, text=True,
                         check=True, env={**os.environ}).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "[]"
