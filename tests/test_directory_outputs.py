"""DVC directory outputs (md5 ``….dir``) in every command: a LoRA adapter folder under ``dvc add`` and a
pipeline's folder outputs (``data/features``, ``eval/plots``), in real repositories with real DVC and a
local DVC remote. Each module-scoped project is built once; a test that tampers with one gets a copy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from dvc_helpers import isolated, md5
from helpers import GitRepo
from realworld import classifier, llm_app

import gitmodelver
from gitmodelver.errors import CheckFailed

LORA = "adapters/support-lora"
V1 = "assistant@v1.0.0"
CLASSIFIER = "classifier@v1.0.0"
FOLDERS = """
[weights.features]   # a pipeline stage's folder output
dvc = "data/features"

[data.plots]
dvc = "eval/plots"
"""


@dataclass(frozen=True)
class Project:
    repo: GitRepo
    remote: Path  # the DVC remote folder

    def copy(self, dest: Path) -> Project:
        """An independent copy (repository, DVC cache and remote) to tamper with."""
        shutil.copytree(self.repo.path, dest / "repo", symlinks=True)
        shutil.copytree(self.remote, dest / "remote", symlinks=True)
        (dest / "repo" / ".dvc" / "config.local").write_text(
            f"['remote \"storage\"']\n    url = {dest / 'remote'}\n"
        )
        return Project(GitRepo(dest / "repo"), dest / "remote")

    def out_md5(self, pointer: str) -> str:
        return str(yaml.safe_load(self.repo.read(pointer))["outs"][0]["md5"])

    def object(self, md5_value: str) -> Path:
        return self.repo.path / ".dvc" / "cache" / "files" / "md5" / md5_value[:2] / md5_value[2:]

    def remote_object(self, md5_value: str) -> Path:
        return self.remote / "files" / "md5" / md5_value[:2] / md5_value[2:]

    def listing(self, dir_md5: str) -> dict[str, str]:
        """relpath -> md5 of every file DVC's listing of a folder names."""
        return {e["relpath"]: e["md5"] for e in json.loads(self.object(dir_md5).read_bytes())}

    def files(self, folder: str | Path) -> dict[str, bytes]:
        root = folder if isinstance(folder, Path) else self.repo.path / folder
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }


def _released(repo: GitRepo) -> None:
    result = repo.modelver("release", "--no-sign", "--json")
    assert result.code == 0, result.out + result.err


@pytest.fixture(scope="module")
def assistant_built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The LLM app: `git modelver init` finds the adapter folder as weights; released as 1.0.0."""
    root = tmp_path_factory.mktemp("assistant")
    with isolated(tmp_path_factory.mktemp("home")):
        repo = llm_app(root)
        result = repo.modelver("init")
        assert result.code == 0, result.err
        assert 'dvc = "adapters/support-lora.dvc"' in repo.read("modelver.toml")
        repo.commit_all("gitmodelver")
        _released(repo)
    return Project(repo, root / "assistant-dvc-remote")


@pytest.fixture
def assistant(assistant_built: Project, tmp_path: Path) -> Project:
    return assistant_built.copy(tmp_path)


@pytest.fixture(scope="module")
def classifier_built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The DVC pipeline project, with two stage folder outputs in its manifest; released as 1.0.0."""
    root = tmp_path_factory.mktemp("classifier")
    with isolated(tmp_path_factory.mktemp("home")):
        repo = classifier(root)
        assert repo.modelver("init").code == 0
        repo.write("modelver.toml", repo.read("modelver.toml") + FOLDERS)
        repo.commit_all("gitmodelver")
        _released(repo)
    return Project(repo, root / "classifier-dvc-remote")


@pytest.fixture
def pipeline(classifier_built: Project, tmp_path: Path) -> Project:
    return classifier_built.copy(tmp_path)


def rewrite(path: Path, data: bytes) -> None:
    """Change a DVC object in place as bit rot or a stray tool would: same name, size and mode."""
    mode = path.stat().st_mode & 0o777
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(mode)


def flip_first_byte(path: Path) -> None:
    data = path.read_bytes()
    rewrite(path, bytes([data[0] ^ 0xFF]) + data[1:])


def failed(result_json: dict[str, Any]) -> dict[str, str]:
    (version,) = result_json["versions"]
    return {c["name"]: c["detail"] for c in version["checks"] if not c["ok"]}


def model_md5(project: Project) -> str:
    return project.listing(project.out_md5(f"{LORA}.dvc"))["adapter_model.safetensors"]


# --------------------------------------------------------------------------- verify


def test_an_untouched_folder_verifies_file_by_file(assistant: Project) -> None:
    result = assistant.repo.modelver("verify", "--remote", "--deep", "--json")
    assert result.code == 0, result.out + result.err
    details = {c["name"]: c["detail"] for c in result.json()["versions"][0]["checks"]}
    # the listing and both files: in the cache, rehashed, on the remote and rehashed there too
    assert details["dvc-cache"].startswith("3 object(s)")
    assert details["dvc-rehash"].startswith("3 cached object(s)")
    assert details["dvc-remote"].startswith("3 object(s)") and "rehashed" in details["dvc-remote"]


def test_a_file_changed_inside_the_folder_in_the_cache_is_named(assistant: Project) -> None:
    flip_first_byte(assistant.object(model_md5(assistant)))
    result = assistant.repo.modelver("verify", V1, "--deep", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-rehash"}, failures
    assert f"weights.support-lora: {LORA}/adapter_model.safetensors: cache object" in failures["dvc-rehash"]


def test_a_file_removed_from_the_folder_in_the_cache_is_named(assistant: Project) -> None:
    md5_value = model_md5(assistant)
    assistant.object(md5_value).unlink()
    result = assistant.repo.modelver("verify", V1, "--deep", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-cache"}, failures
    assert f"weights.support-lora: {LORA}/adapter_model.safetensors ({md5_value})" in failures["dvc-cache"]


def test_a_corrupt_listing_in_the_cache_is_reported_not_believed(assistant: Project) -> None:
    dir_md5 = assistant.out_md5(f"{LORA}.dvc")
    listing = assistant.object(dir_md5)
    real = assistant.listing(dir_md5)["adapter_config.json"]
    invented = "0" * 32
    rewrite(listing, listing.read_bytes().replace(real.encode(), invented.encode()))
    result = assistant.repo.modelver("verify", V1, "--deep", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-rehash"}, failures  # no file the forged listing invented is "missing"
    detail = failures["dvc-rehash"]
    assert f"weights.support-lora: {LORA} (DVC's listing of the folder)" in detail
    assert "the folder's files cannot be checked" in detail and invented not in detail


def test_a_file_removed_from_the_folder_on_the_remote_is_named(assistant: Project) -> None:
    md5_value = model_md5(assistant)
    assistant.remote_object(md5_value).unlink()
    result = assistant.repo.modelver("verify", V1, "--remote", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-remote"}, failures
    assert f"weights.support-lora: {LORA}/adapter_model.safetensors ({md5_value})" in failures["dvc-remote"]
    assert "not on DVC remote" in failures["dvc-remote"]


def test_a_file_changed_inside_the_folder_on_the_remote_is_named_with_deep(assistant: Project) -> None:
    flip_first_byte(assistant.remote_object(model_md5(assistant)))
    result = assistant.repo.modelver("verify", V1, "--remote", "--deep", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-remote"}, failures  # the cache is intact
    detail = failures["dvc-remote"]
    assert detail.startswith(f"changed on DVC remote {assistant.remote}: ")
    assert f"weights.support-lora: {LORA}/adapter_model.safetensors: the remote's object hashes to" in detail


def test_a_stage_folder_output_changed_in_the_cache_is_named(pipeline: Project) -> None:
    lock = yaml.safe_load(pipeline.repo.read("dvc.lock"))["stages"]
    features = lock["featurize"]["outs"][0]["md5"]
    flip_first_byte(pipeline.object(pipeline.listing(features)["train.jsonl"]))
    result = pipeline.repo.modelver("verify", CLASSIFIER, "--deep", "--json")
    assert result.code == 1, result.out
    failures = failed(result.json())
    assert set(failures) == {"dvc-rehash"}, failures
    assert "weights.features: data/features/train.jsonl: cache object" in failures["dvc-rehash"]


# --------------------------------------------------------------------------- reproduce


@pytest.mark.parametrize("lost", ["the whole cache", "one file of the folder"])
def test_reproduce_materializes_every_file_of_the_folder(
    assistant: Project, tmp_path: Path, lost: str
) -> None:
    released = assistant.files(LORA)
    if lost == "the whole cache":
        shutil.rmtree(assistant.repo.path / ".dvc" / "cache")
    else:
        assistant.object(model_md5(assistant)).unlink()
    out = tmp_path / "v1"
    result = assistant.repo.modelver("reproduce", V1, "--to", str(out), "--json")
    assert result.code == 0, result.out + result.err
    assert "fetching 1 output(s)" in result.err  # whatever it lacked came from the remote
    assert assistant.files(out / LORA) == released
    report = result.json()
    (weights,) = report["weights"]
    assert (weights["ref"], weights["path"], weights["files"], weights["ok"]) == (
        "weights.support-lora",
        LORA,
        2,
        True,
    )
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["materialized"]["ok"] and "2 file(s)" in checks["materialized"]["detail"]


def test_reproduce_names_a_corrupt_file_inside_the_folder(assistant: Project, tmp_path: Path) -> None:
    flip_first_byte(assistant.object(model_md5(assistant)))
    out = tmp_path / "v1"
    result = assistant.repo.modelver("reproduce", V1, "--to", str(out), "--json")
    assert result.code == 1, result.out + result.err
    checks = {c["name"]: c for c in result.json()["checks"]}
    detail = checks["materialized"]["detail"]
    assert not checks["materialized"]["ok"]
    assert f"weights.support-lora: {LORA}/adapter_model.safetensors: its cache object" in detail
    assert "is corrupt" in detail
    assert (out / LORA / "adapter_config.json").is_file()  # kept for inspection


def test_reproduce_refuses_a_corrupt_listing_before_making_anything(
    assistant: Project, tmp_path: Path
) -> None:
    listing = assistant.object(assistant.out_md5(f"{LORA}.dvc"))
    rewrite(listing, listing.read_bytes().replace(b"adapter_config.json", b"adapter_confog.json"))
    out = tmp_path / "v1"
    result = assistant.repo.modelver("reproduce", V1, "--to", str(out))
    assert result.code == 1, result.out + result.err
    assert f"weights.support-lora: {LORA} (DVC's listing of the folder): the DVC cache's copy" in result.err
    assert f"rm {listing}" in result.err  # the fix: without it, the next run fetches it again
    assert not out.exists()
    listing.unlink()  # as the message says: it is fetched again
    assert assistant.repo.modelver("reproduce", V1, "--to", str(out)).code == 0
    assert sorted(p.name for p in (out / LORA).iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]


def test_reproduce_materializes_stage_folder_outputs(pipeline: Project, tmp_path: Path) -> None:
    shutil.rmtree(pipeline.repo.path / ".dvc" / "cache")
    out = tmp_path / "v1"
    result = pipeline.repo.modelver("reproduce", CLASSIFIER, "--to", str(out), "--json")
    assert result.code == 0, result.out + result.err
    for folder in ("data/features", "eval/plots"):
        assert pipeline.files(out / folder) == pipeline.files(folder), folder
    assert (out / "model.pkl").read_bytes() == (pipeline.repo.path / "model.pkl").read_bytes()
    files = {w["path"]: w["files"] for w in result.json()["weights"]}
    assert files == {"model.pkl": 1, "data/features": 2, "eval/plots": 1}


# --------------------------------------------------------------------------- load


def test_load_gives_a_folder_with_every_file_and_keeps_it_whole(assistant: Project) -> None:
    released = assistant.files(LORA)
    shutil.rmtree(assistant.repo.path / ".dvc" / "cache")  # from the remote
    v = gitmodelver.load(V1, repo=assistant.repo.path)
    folder = v.weights("support-lora")
    assert isinstance(folder, Path) and folder.is_dir() and folder.name == "support-lora"
    assert assistant.files(folder) == released
    # Each call checks the folder against the listing and puts back what is missing, changed or extra.
    (folder / "adapter_config.json").unlink()
    assert assistant.files(v.weights("support-lora")) == released
    model = folder / "adapter_model.safetensors"
    rewrite(model, b"\0" * model.stat().st_size)
    assert assistant.files(v.weights("support-lora")) == released
    (folder / "stray.bin").write_bytes(b"not released")
    assert assistant.files(v.weights("support-lora")) == released


def test_load_gives_stage_folders_as_folders_and_files_as_files(pipeline: Project) -> None:
    v = gitmodelver.load(CLASSIFIER, repo=pipeline.repo.path)
    features = v.weights("features")
    assert features.is_dir() and pipeline.files(features) == pipeline.files("data/features")
    plots = v.weights("data.plots")
    assert plots.is_dir() and pipeline.files(plots) == pipeline.files("eval/plots")
    model = v.weights("text-classifier")
    assert model.is_file() and model.read_bytes() == (pipeline.repo.path / "model.pkl").read_bytes()


def test_a_listing_naming_a_path_outside_its_folder_is_refused(assistant: Project, tmp_path: Path) -> None:
    """A listing is content-addressed, so whoever pins its md5 chooses its paths: none may climb out."""
    repo = assistant.repo
    config = assistant.listing(assistant.out_md5(f"{LORA}.dvc"))["adapter_config.json"]
    forged = json.dumps([{"md5": config, "relpath": "../../../../../../escaped.json"}]).encode()
    forged_md5 = md5(forged) + ".dir"
    target = assistant.object(forged_md5)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(forged)
    pointer = repo.read(f"{LORA}.dvc")
    repo.write(f"{LORA}.dvc", pointer.replace(assistant.out_md5(f"{LORA}.dvc"), forged_md5))
    repo.commit_all("a forged adapter")
    _released(repo)
    v = gitmodelver.load("assistant@v1.1.0", repo=repo.path)
    with pytest.raises(CheckFailed, match=r"names '\.\./\.\./.*escaped\.json', a path outside the folder"):
        v.weights("support-lora")
    result = repo.modelver("reproduce", "assistant@v1.1.0", "--to", str(tmp_path / "v11"))
    assert result.code == 1 and "a path outside the folder" in result.err
    assert not list(tmp_path.rglob("escaped.json")) and not list(repo.path.parent.rglob("escaped.json"))


# --------------------------------------------------------------------------- lineage


def graph(project: Project, tag: str) -> dict[str, dict[str, Any]]:
    result = project.repo.modelver("lineage", tag, "--format", "json")
    assert result.code == 0, result.err
    return {n["id"]: n for n in json.loads(result.out)["nodes"]}


def test_lineage_shows_a_folder_as_one_node_with_its_listing_md5_and_file_count(
    assistant_built: Project,
) -> None:
    dir_md5 = assistant_built.out_md5(f"{LORA}.dvc")
    nodes = graph(assistant_built, V1)
    node = nodes[f"file:{LORA}"]
    assert node["hash"] == f"md5:{dir_md5}" and dir_md5.endswith(".dir")
    assert node["attrs"]["files"] == 2 and node["attrs"]["directory"] is True
    assert not [n for n in nodes.values() if (n["path"] or "").startswith(LORA + "/")]
    shown = f"md5:{dir_md5[:12]}….dir  2 files"
    text = assistant_built.repo.modelver("lineage", V1).out
    assert f"weights.support-lora  {LORA}  {shown}  [weights]" in text
    for fmt in ("dot", "mermaid"):
        assert shown in assistant_built.repo.modelver("lineage", V1, "--format", fmt).out, fmt


def test_lineage_counts_the_files_of_stage_folder_outputs(classifier_built: Project) -> None:
    lock = yaml.safe_load(classifier_built.repo.read("dvc.lock"))["stages"]
    nodes = graph(classifier_built, CLASSIFIER)
    for stage, path in (
        ("prepare", "data/prepared"),
        ("featurize", "data/features"),
        ("evaluate", "eval/plots"),
    ):
        out = next(o for o in lock[stage]["outs"] if o["path"] == path)
        node = nodes[f"file:{path}"]
        assert node["hash"] == f"md5:{out['md5']}", path
        assert node["attrs"]["files"] == out["nfiles"], path
    text = classifier_built.repo.modelver("lineage", CLASSIFIER).out
    assert f"data/prepared  md5:{lock['prepare']['outs'][0]['md5'][:12]}….dir  2 files  [artifact]" in text
    assert "md5:" + lock["train"]["outs"][0]["md5"][:12] + "  [weights]" in text  # a file stays a file


# --------------------------------------------------------------------------- bom


def valid(text: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def bom(project: Project, tag: str) -> dict[str, dict[str, Any]]:
    result = project.repo.modelver("bom", tag)
    assert result.code == 0, result.err
    valid(result.out)
    return {c["bom-ref"]: c for c in json.loads(result.out)["components"]}


def props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def test_bom_lists_the_files_of_a_folder_as_nested_components(assistant_built: Project) -> None:
    released = assistant_built.files(LORA)
    lora = bom(assistant_built, V1)["weights.support-lora"]
    assert "hashes" not in lora  # a listing's md5 is no MD5 of any file
    assert props(lora)["modelver:dvc-directory-md5"] == assistant_built.out_md5(f"{LORA}.dvc")
    assert props(lora)["modelver:files"] == "2"
    inner = {c["name"]: c for c in lora["components"]}
    assert set(inner) == {f"{LORA}/{name}" for name in released}
    for name, data in released.items():
        component = inner[f"{LORA}/{name}"]
        assert component["type"] == "file" and component["bom-ref"] == f"weights.support-lora/{name}"
        assert component["hashes"] == [{"alg": "MD5", "content": md5(data)}]


def test_bom_without_the_listing_in_the_cache_says_its_files_are_not_listed(assistant: Project) -> None:
    assistant.object(assistant.out_md5(f"{LORA}.dvc")).unlink()
    lora = bom(assistant, V1)["weights.support-lora"]
    assert "components" not in lora
    assert props(lora)["modelver:files"].startswith(
        "not listed: the folder's .dir listing is not in the local"
    )


def test_bom_lists_the_files_of_stage_folder_outputs_and_datasets(classifier_built: Project) -> None:
    found = bom(classifier_built, CLASSIFIER)
    for ref, folder in (
        ("weights.features", "data/features"),
        ("data.plots", "eval/plots"),
        ("dataset:data/prepared", "data/prepared"),
    ):
        inner = {c["name"]: c["hashes"][0]["content"] for c in found[ref]["components"]}
        expected = {f"{folder}/{n}": md5(b) for n, b in classifier_built.files(folder).items()}
        assert inner == expected, ref
