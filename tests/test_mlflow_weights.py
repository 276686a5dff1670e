"""`export mlflow --copy-weights`: each new model version's logged model holds the release's DVC-tracked
files, byte for byte, pulled from the DVC remote when the cache lacks them (real DVC, real MLflow)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from dvc_helpers import DvcProject

pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)
mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install gitmodelver[mlflow])")

QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_LOGGING_LEVEL": "WARNING"}


def test_copied_weights_are_the_releases_bytes(project: DvcProject, tmp_path: Path) -> None:
    shutil.rmtree(project.cache)  # every object comes from the DVC remote, checked on the way
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = project.repo.modelver_proc(
        "export",
        "mlflow",
        "--tracking-uri",
        uri,
        "--artifact-location",
        (tmp_path / "artifacts").as_uri(),
        "--copy-weights",
        "--json",
        env=QUIET,
    )
    assert result.code == 0, result.err
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = {v.tags["modelver.tag"]: v for v in client.search_model_versions("name='support-bot'")}
    assert set(found) == set(project.versions)
    for tag, version in project.versions.items():
        model_id = found[tag].source.removeprefix("models:/")
        where = urlparse(client.get_logged_model(model_id).artifact_location)
        folder = Path(unquote(where.path))
        assert (folder / "models" / "adapter.safetensors").read_bytes() == version.adapter, tag
        for name, data in version.index.items():
            assert (folder / "indexes" / "faq" / name).read_bytes() == data, (tag, name)
        assert found[tag].tags["modelver.weights.weights.adapter.md5"]  # still referenced by md5 too
