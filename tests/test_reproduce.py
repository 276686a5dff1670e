"""`reproduce` with real DVC: old versions come back from the cache or the remote, byte for byte."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from dvc_helpers import TAG, DvcProject, env_without_dvc_cache, md5_path, retag, tag_message

V1 = TAG.format("1.0.0")


pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)


def pins_of(folder: Path) -> dict[str, str]:
    data = tomllib.loads((folder / "modelver.toml").read_text())
    return {"adapter": data["weights"]["adapter"]["md5"], "index": data["retrieval"]["index"]["md5"]}


def test_old_version_comes_back_from_the_remote_after_three_releases(
    project: DvcProject, tmp_path: Path
) -> None:
    repo = project.repo
    head_adapter = (repo.path / "models" / "adapter.safetensors").read_bytes()
    env_without_dvc_cache(project)  # the weights of 1.0.0 left this machine long ago
    out = tmp_path / "v1"
    result = repo.modelver("reproduce", V1, "--to", str(out), "--json")
    assert result.code == 0, result.out + result.err
    report = result.json()
    assert report["ok"] is True and report["tag"] == V1
    assert {c["name"] for c in report["checks"]} >= {"signature", "digest", "pins", "materialized"}

    expected = project.versions[V1]
    pins = pins_of(out)
    adapter = out / "models" / "adapter.safetensors"
    assert adapter.read_bytes() == expected.adapter
    assert md5_path(adapter) == pins["adapter"]
    index = out / "indexes" / "faq"
    assert {p.name: p.read_bytes() for p in index.iterdir()} == expected.index  # c.txt came in 1.2.0
    assert (out / "prompts" / "system.j2").read_text() == expected.prompt
    assert project.object(pins["adapter"]).is_file()  # fetched into the repository's own cache
    assert "fetching 2 output(s)" in result.err
    # The workspace did not move.
    assert (repo.path / "models" / "adapter.safetensors").read_bytes() == head_adapter
    assert repo.git("status", "--porcelain") == ""
    assert str(out) in repo.git("worktree", "list")


@pytest.mark.parametrize("link", ["hardlink", "symlink"])
def test_the_cache_link_type_is_respected(project: DvcProject, tmp_path: Path, link: str) -> None:
    config = project.repo.path / ".dvc" / "config.local"
    config.write_text(config.read_text() + f"[cache]\n    type = {link}\n")
    out = tmp_path / "v1"
    result = project.repo.modelver("reproduce", V1, "--to", str(out), "--json")
    assert result.code == 0, result.out + result.err
    weights = {w["ref"]: w for w in result.json()["weights"]}
    assert weights["weights.adapter"]["link"] == link
    adapter = out / "models" / "adapter.safetensors"
    cached = project.object(pins_of(out)["adapter"])
    if link == "hardlink":
        assert adapter.stat().st_ino == cached.stat().st_ino and not adapter.is_symlink()
    else:
        assert adapter.is_symlink() and adapter.resolve() == cached.resolve()


def test_text_output_lists_outputs_and_checks(project: DvcProject, tmp_path: Path) -> None:
    result = project.repo.modelver("reproduce", "v1.1.0", "--to", str(tmp_path / "v11"), "--deep")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"{TAG.format('1.1.0')} -> {tmp_path / 'v11'}")
    assert any("weights.adapter" in ln and "copy" in ln for ln in lines)
    assert any("ok    materialized" in ln for ln in lines)


def test_no_weights_gives_the_git_files_only(project: DvcProject, tmp_path: Path) -> None:
    out = tmp_path / "bare-files"
    result = project.repo.modelver("reproduce", V1, "--to", str(out), "--no-weights", "--json")
    assert result.code == 0, result.err
    assert (out / "models" / "adapter.safetensors.dvc").is_file()
    assert not (out / "models" / "adapter.safetensors").exists()
    assert (out / "prompts" / "system.j2").read_text() == project.versions[V1].prompt


def test_a_corrupt_cache_object_is_caught_after_checkout(project: DvcProject, tmp_path: Path) -> None:
    pointer = (project.repo.path / "models" / "adapter.safetensors.dvc").read_text()
    md5 = pointer.split("md5: ")[1].split()[0]
    obj = project.object(md5)
    obj.chmod(0o644)
    obj.write_bytes(b"\0" * obj.stat().st_size)
    out = tmp_path / "head"
    result = project.repo.modelver("reproduce", TAG.format("1.2.1"), "--to", str(out), "--json")
    assert result.code == 1
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["materialized"]["ok"] is False
    assert "is corrupt" in checks["materialized"]["detail"]
    assert out.is_dir()  # kept for inspection; the error says it did not verify
    assert "did not verify" in result.err


def test_weights_lost_everywhere_leave_nothing_behind(project: DvcProject, tmp_path: Path) -> None:
    env_without_dvc_cache(project)
    for obj in project.remote.rglob("*"):
        if obj.is_file():
            obj.unlink()
    out = tmp_path / "nothing"
    result = project.repo.modelver("reproduce", V1, "--to", str(out))
    assert result.code == 1
    assert "neither in the DVC cache nor on remote" in result.err
    assert not out.exists()
    assert str(out) not in project.repo.git("worktree", "list")


def test_a_tampered_version_materializes_but_fails(project: DvcProject, tmp_path: Path) -> None:
    repo = project.repo
    retag(repo, V1, f"{V1}^{{commit}}", tag_message(repo, V1), sign=False)
    result = repo.modelver("reproduce", V1, "--to", str(tmp_path / "t"))
    assert result.code == 1
    assert "signature" in result.err and "not signed" in result.err


def test_destination_must_be_new_or_empty(project: DvcProject, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = project.repo.modelver("reproduce", V1, "--to", str(tmp_path / "full"))
    assert result.code == 2
    assert "not empty" in result.err
