"""`bom`: a version as a CycloneDX 1.6 ML-BOM, valid against the schema cyclonedx-python-lib ships."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import GitRepo, seed

from gitmodelver import __version__

if TYPE_CHECKING:
    from pipeline_project import PipelineProject

pytest_plugins = ["pipeline_fixtures"]


def valid(text: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def hashes(component: dict[str, Any]) -> dict[str, str]:
    return {h["alg"]: h["content"] for h in component.get("hashes", [])}


def test_bom_of_a_pipeline_trained_version(pipeline_built: PipelineProject, tmp_path: Path) -> None:
    repo = pipeline_built.repo
    target = tmp_path / "bom.json"
    result = repo.modelver("bom", "v1.1.0", "-o", str(target))
    assert result.code == 0, result.err
    text = target.read_text()
    valid(text)
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    system = doc["metadata"]["component"]
    show = repo.modelver("show", "v1.1.0", "--json").json()
    assert system["type"] == "machine-learning-model"
    assert (system["name"], system["version"]) == ("support-bot", "1.1.0")
    assert hashes(system) == {"SHA-256": show["digest"].removeprefix("sha256:")}
    props = {p["name"]: p["value"] for p in system["properties"]}
    assert props["modelver:commit"] == show["commit"] and props["modelver:state-digest"] == show["state"]
    assert doc["metadata"]["tools"]["components"][0] == {
        "name": "gitmodelver",
        "type": "application",
        "version": __version__,
    }

    card = system["modelCard"]
    results = json.loads(repo.git("show", "support-bot@v1.1.0:evals/results.json"))
    metrics = {m["type"]: float(m["value"]) for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == results["metrics"]
    datasets = {d["ref"] for d in card["modelParameters"]["datasets"]}
    assert datasets == {"dataset:data/raw.jsonl", "dataset:data/prepared.jsonl"}

    found = components(doc)
    lock = yaml.safe_load(repo.git("show", "support-bot@v1.1.0:dvc.lock"))["stages"]
    raw = yaml.safe_load(repo.git("show", "support-bot@v1.1.0:data/raw.jsonl.dvc"))["outs"][0]["md5"]
    for ref in datasets:
        assert found[ref]["type"] == "data" and found[ref]["data"][0]["type"] == "dataset"
    assert hashes(found["dataset:data/raw.jsonl"]) == {"MD5": raw}
    assert hashes(found["dataset:data/prepared.jsonl"]) == {"MD5": lock["prepare"]["outs"][0]["md5"]}
    weights = found["weights.adapter"]
    assert weights["name"] == "models/adapter.safetensors"
    assert hashes(weights) == {"MD5": lock["train"]["outs"][0]["md5"]}
    prompt = repo.git("show", "support-bot@v1.1.0:prompts/system.j2").encode()
    assert hashes(found["prompts.system"]) == {"SHA-256": hashlib.sha256(prompt).hexdigest()}
    assert found["prompts.system"]["data"][0]["type"] == "configuration"
    base = found["base-model"]
    assert base["type"] == "machine-learning-model"
    assert base["purl"] == (
        "pkg:huggingface/meta-llama/Llama-3.1-8B-Instruct@0e9e39f249a16976918f6564b8830bc894c89659"
    )
    retrieval = found["config:retrieval"]["data"][0]
    assert retrieval["type"] == "configuration"
    assert {p["name"]: p["value"] for p in retrieval["contents"]["properties"]} == {
        "embedding_model": "BAAI/bge-small-en-v1.5",
        "chunk_size": "512",
    }
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert deps["weights.adapter"] == datasets
    assert set(found) <= deps["system:support-bot@v1.1.0"]


def test_bom_is_a_function_of_the_version(pipeline_built: PipelineProject) -> None:
    repo = pipeline_built.repo
    first = repo.modelver("bom", "v1.2.0")
    assert first.code == 0
    assert repo.modelver("bom", "support-bot@v1.2.0").out == first.out
    other = json.loads(repo.modelver("bom", "v1.3.0").out)
    assert other["serialNumber"] != json.loads(first.out)["serialNumber"]


def test_bom_without_dvc_or_evaluation(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release", "--no-sign").code == 0
    result = repo.modelver("bom", "v1.0.0")
    assert result.code == 0, result.err
    valid(result.out)
    doc = json.loads(result.out)
    assert doc["metadata"]["component"]["modelCard"] == {"modelParameters": {"datasets": []}}
    assert {"prompts.system", "prompts.greeting", "base-model", "config:serving"} <= set(components(doc))
    assert repo.modelver("bom", "v2.0.0").code == 2
