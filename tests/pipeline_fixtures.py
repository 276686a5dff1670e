"""Fixtures for tests on the pipeline project; test modules load them with ``pytest_plugins``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SigningKey
from dvc_helpers import isolated
from pipeline_project import PipelineProject, build


@pytest.fixture(scope="session")
def pipeline_built(tmp_path_factory: pytest.TempPathFactory, ssh_key: SigningKey) -> PipelineProject:
    with isolated(tmp_path_factory.mktemp("home")):
        return build(tmp_path_factory.mktemp("pipeline"), ssh_key)


@pytest.fixture
def pipeline(pipeline_built: PipelineProject, tmp_path: Path) -> PipelineProject:
    return pipeline_built.copy(tmp_path)
