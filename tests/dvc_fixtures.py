"""Fixtures for tests on the DVC project; test modules load them with ``pytest_plugins``.

The project (releases, DVC cache and remote, signed tags) is built once per session and worker; every
test gets its own copy to tamper with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SigningKey
from dvc_helpers import DvcProject, build, isolated


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, ssh_key: SigningKey) -> DvcProject:
    with isolated(tmp_path_factory.mktemp("home")):
        return build(tmp_path_factory.mktemp("dvc-project"), ssh_key)


@pytest.fixture
def project(built: DvcProject, tmp_path: Path) -> DvcProject:
    return built.copy(tmp_path)
