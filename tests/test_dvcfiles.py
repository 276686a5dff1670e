"""DVC pointers and dvc.lock read as YAML: odd md5s, broken files, and what the user is told."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import GitRepo

from gitmodelver.core import dvcfiles
from gitmodelver.gitstore.tree import WorkTree


def tree_with(tmp_path: Path, files: dict[str, str]) -> WorkTree:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return WorkTree(tmp_path)


@pytest.mark.parametrize("md5", ["01234567012345670123456701234567", "12345678901234567890123456789012"])
def test_an_all_digit_md5_stays_text(tmp_path: Path, md5: str) -> None:
    tree = tree_with(tmp_path, {"w.dvc": f"outs:\n- md5: {md5}\n  size: 1024\n  hash: md5\n  path: w\n"})
    out = dvcfiles.resolve(tree, "w.dvc")
    assert out is not None and out.md5 == md5 and out.size == 1024


@pytest.mark.parametrize(
    ("files", "path", "needle"),
    [
        ({}, "w.dvc", "no such file"),
        ({"w.dvc": "outs: [\n"}, "w.dvc", "not valid YAML (line 2"),
        ({"w.dvc": "outs: 5\n"}, "w.dvc", "records no output"),
        ({"w.dvc": "outs:\n- path: w\n"}, "w.dvc", "records no output"),
        ({}, "models/x.bin", "dvc add models/x.bin"),
        ({"dvc.lock": "stages:\n  a: 5\n  b:\n    outs: 3\n"}, "x.bin", "nor a dvc.lock stage"),
    ],
)
def test_broken_records_are_explained(tmp_path: Path, files: dict[str, str], path: str, needle: str) -> None:
    tree = tree_with(tmp_path, files)
    assert dvcfiles.resolve(tree, path) is None
    assert needle in dvcfiles.explain(tree, path)


def test_lock_names_what_is_wrong_with_a_pointer(repo: GitRepo) -> None:
    repo.write("modelver.toml", '[system]\nname = "m"\n\n[weights.a]\ndvc = "w.dvc"\n')
    repo.write("w.dvc", "outs: [\n")
    result = repo.modelver("lock")
    assert result.code == 2
    assert "weights.a names w.dvc: w.dvc is not valid YAML" in result.err
