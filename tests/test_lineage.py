"""`lineage` of a system trained by a real DVC pipeline: read at the tag, four formats, stale nodes marked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from helpers import MANIFEST, GitRepo, seed

from gitmodelver.audit import lineage, lineage_render
from gitmodelver.core import manifest
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import select

if TYPE_CHECKING:
    from pipeline_project import PipelineProject

pytest_plugins = ["pipeline_fixtures"]  # its fixtures: pipeline_built (shared), pipeline (a copy)


def graph_json(repo: GitRepo, version: str) -> dict[str, Any]:
    result = repo.modelver("lineage", version, "--format", "json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[no-any-return]


def lock_at(repo: GitRepo, tag: str) -> dict[str, Any]:
    return yaml.safe_load(repo.git("show", f"{tag}:dvc.lock"))["stages"]  # type: ignore[no-any-return]


def edges(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["source"], e["target"], e["relation"]) for e in doc["edges"]}


def test_dataset_stage_weights_version_and_suite_results(pipeline_built: PipelineProject) -> None:
    repo = pipeline_built.repo
    doc = graph_json(repo, "v1.1.0")
    nodes = {n["id"]: n for n in doc["nodes"]}
    root = "version:support-bot@v1.1.0"
    assert doc["root"] == root
    chain = [
        ("file:data/raw.jsonl", "stage:dvc.lock:prepare", "input"),
        ("stage:dvc.lock:prepare", "file:data/prepared.jsonl", "produces"),
        ("file:data/prepared.jsonl", "stage:dvc.lock:train", "input"),
        ("params:dvc.lock:train:params.yaml", "stage:dvc.lock:train", "params"),
        ("file:src/train.py", "stage:dvc.lock:train", "input"),
        ("stage:dvc.lock:train", "file:models/adapter.safetensors", "produces"),
        ("file:models/adapter.safetensors", root, "component"),
        ("file:data/raw.jsonl", "file:models/adapter.safetensors", "trained_on"),
        ("file:evals/suite.yaml", "stage:dvc.lock:evaluate", "input"),
        ("stage:dvc.lock:evaluate", "file:evals/results.json", "produces"),
        ("file:evals/results.json", root, "component"),
    ]
    assert set(chain) <= edges(doc)
    assert nodes["file:data/raw.jsonl"]["kind"] == "dataset"
    assert nodes["file:models/adapter.safetensors"]["kind"] == "weights"
    assert nodes["file:evals/suite.yaml"]["kind"] == "eval-suite"
    assert nodes["file:evals/results.json"]["attrs"]["gates"] == {"accuracy": ">= 0.8", "toxicity": "<= 0.01"}
    assert nodes["params:dvc.lock:train:params.yaml"]["attrs"]["values"] == {
        "train.epochs": 3,
        "train.lr": 0.01,
    }
    # hashes are the ones DVC recorded at that tag
    lock = lock_at(repo, "support-bot@v1.1.0")
    assert nodes["file:models/adapter.safetensors"]["hash"] == "md5:" + lock["train"]["outs"][0]["md5"]
    assert nodes["file:data/prepared.jsonl"]["hash"] == "md5:" + lock["prepare"]["outs"][0]["md5"]
    assert nodes[root]["hash"] == repo.modelver("show", "v1.1.0", "--json").json()["digest"]
    assert nodes["model:meta-llama/Llama-3.1-8B-Instruct@0e9e39f249a16976918f6564b8830bc894c89659"][
        "kind"
    ] == ("base-model")
    assert not any(n["marked"] for n in doc["nodes"])


def test_read_at_the_tag_not_the_working_tree(pipeline: PipelineProject) -> None:
    repo = pipeline.repo
    first = {n["id"]: n["hash"] for n in graph_json(repo, "v1.0.0")["nodes"]}
    second = {n["id"]: n["hash"] for n in graph_json(repo, "v1.1.0")["nodes"]}
    weights = "file:models/adapter.safetensors"
    assert first[weights] == "md5:" + lock_at(repo, "support-bot@v1.0.0")["train"]["outs"][0]["md5"]
    assert first[weights] != second[weights]  # one more epoch, new weights
    shutil.rmtree(repo.path / "src")
    (repo.path / "dvc.lock").unlink()
    assert {n["id"]: n["hash"] for n in graph_json(repo, "v1.0.0")["nodes"]} == first


def test_text_walks_upstream_from_the_version(pipeline_built: PipelineProject) -> None:
    result = pipeline_built.repo.modelver("lineage", "support-bot@v1.0.0")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("support-bot@v1.0.0  sha256:")
    text = result.out
    order = [
        "weights.adapter  models/adapter.safetensors  md5:",
        "produced by train",
        "input data/prepared.jsonl",
        "produced by prepare",
        "input data/raw.jsonl",
        "trained on data/raw.jsonl",
        "evaluation.results  evals/results.json",
        "produced by evaluate",
        "input evaluation.suite  evals/suite.yaml",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "(see above)" in text  # the weights feed both the version and the evaluate stage, shown once
    assert "!!" not in text


def test_json_flag_is_the_json_format(pipeline_built: PipelineProject) -> None:
    repo = pipeline_built.repo
    assert repo.modelver("lineage", "v1.2.0", "--json").json() == graph_json(repo, "v1.2.0")


def test_dot_is_parsed_by_graphviz(pipeline_built: PipelineProject) -> None:
    result = pipeline_built.repo.modelver("lineage", "v1.1.0", "--format", "dot")
    assert result.code == 0
    assert result.out.startswith("digraph lineage {")
    doc = graph_json(pipeline_built.repo, "v1.1.0")
    assert result.out.count(" -> ") == len(doc["edges"])
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed: the parse check needs it")
    parsed = subprocess.run(["dot", "-Tjson"], input=result.out, capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    drawn = json.loads(parsed.stdout)
    assert {o["name"] for o in drawn["objects"]} == {n["id"] for n in doc["nodes"]}
    assert len(drawn["edges"]) == len(doc["edges"])


def test_mermaid_structure(pipeline_built: PipelineProject) -> None:
    result = pipeline_built.repo.modelver("lineage", "v1.1.0", "--format", "mermaid")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "flowchart LR"
    node_line = re.compile(r'^  (n\d+)(\(\[|\[\(|\{\{|\[/|\[)"([^"]*)"(\]\)|\)\]|\}\}|/\]|\])$')
    edge_line = re.compile(r"^  (n\d+) -->\|([a-z_]+)\| (n\d+)$")
    defined, drawn = {}, []
    for line in lines[1:]:
        if (m := node_line.match(line)) is not None:
            defined[m.group(1)] = m.group(3)
        elif (m := edge_line.match(line)) is not None:
            drawn.append((m.group(1), m.group(2), m.group(3)))
        else:
            assert line.startswith(("  classDef ", "  class ")), line
    doc = graph_json(pipeline_built.repo, "v1.1.0")
    assert len(defined) == len(doc["nodes"]) and len(drawn) == len(doc["edges"])
    assert all(a in defined and b in defined for a, _, b in drawn)
    labels = {label.split("<br/>")[0] for label in defined.values()}
    assert {
        "support-bot@v1.1.0",
        "train",
        "prepare",
        "evaluate",
        "data/raw.jsonl",
        "weights.adapter",
    } <= labels
    relations = {(defined[a].split("<br/>")[0], r, defined[b].split("<br/>")[0]) for a, r, b in drawn}
    assert ("data/raw.jsonl", "input", "prepare") in relations
    assert ("train", "produces", "weights.adapter") in relations
    assert ("weights.adapter", "component", "support-bot@v1.1.0") in relations


def _head_graph(repo: GitRepo) -> lineage.Graph:
    r = Repo(repo.path)
    sys_ = select(r, None)
    tree = r.commit_tree(r.commit("HEAD"), "HEAD")
    m = manifest.load_tree(tree, sys_.file)
    assert m is not None
    return lineage.build(tree, m, tag="HEAD", version_digest=None)


def test_edits_after_dvc_repro_are_marked(pipeline: PipelineProject) -> None:
    repo = pipeline.repo
    repo.write("src/train.py", repo.read("src/train.py") + "# tuned by hand\n")
    repo.write("params.yaml", repo.read("params.yaml").replace("lr: 0.01", "lr: 0.02"))
    lock = repo.read("dvc.lock")
    prepared = yaml.safe_load(lock)["stages"]["prepare"]["outs"][0]["md5"]
    # prepare re-ran (its output changed) but train was not re-run on it
    repo.write("dvc.lock", lock.replace(prepared, "abc" * 10 + "de", 1))
    repo.commit_all("hand edits, no repro")
    graph = _head_graph(repo)
    marked = {n.id: n.problems for n in graph.marked}
    assert set(marked) == {
        "file:src/train.py",
        "params:dvc.lock:train:params.yaml",
        "file:data/prepared.jsonl",
    }
    assert "edited after `dvc repro`" in marked["file:src/train.py"][0]
    assert (
        "train.lr = 0.01 when train ran, params.yaml now says 0.02"
        in marked["params:dvc.lock:train:params.yaml"]
    )
    assert "stage prepare now records abcabcabcabc…" in marked["file:data/prepared.jsonl"][0]
    text = lineage_render.text(graph)
    assert text.count("  !! ") == 3 and "3 node(s) no longer match" in text
    dot = lineage_render.dot(graph)
    assert dot.count('color="#b91c1c"') == 3
    assert "class " in lineage_render.mermaid(graph).splitlines()[-1]


def test_stale_pin_is_marked(pipeline: PipelineProject) -> None:
    repo = pipeline.repo
    text = repo.read("modelver.toml")
    pinned = re.search(r'sha256 = "([0-9a-f]{64})"', text)
    assert pinned is not None
    repo.write("modelver.toml", text.replace(pinned.group(1), "f" * 64, 1))
    repo.commit_all("hand-edited pin")
    marked = {n.label: n.problems for n in _head_graph(repo).marked}
    assert len(marked) == 1
    (problems,) = marked.values()
    assert "the manifest pins sha256 ffffffffffff…" in problems[0]


def test_unknown_version_is_a_usage_error(pipeline_built: PipelineProject) -> None:
    result = pipeline_built.repo.modelver("lineage", "v9.9.9")
    assert result.code == 2 and "unknown version" in result.err


def test_without_a_pipeline_the_suite_evaluates_the_results(repo: GitRepo) -> None:
    evaluation = (
        '\n[evaluation]\nsuite = { path = "evals/suite.yaml" }\nresults = { path = "evals/results.json" }\n'
    )
    repo.write("evals/suite.yaml", "cases: []\n")
    results = {
        "subject": "sha256:" + "a" * 64,
        "metrics": {"accuracy": 0.9},
        "created_at": "2026-01-01T00:00:00Z",
    }
    repo.write("evals/results.json", json.dumps(results))
    seed(repo, MANIFEST + evaluation)
    assert repo.modelver("release", "--no-sign").code == 0
    doc = graph_json(repo, "v1.0.0")
    root = "version:support-bot@v1.0.0"
    assert {
        ("file:evals/suite.yaml", "file:evals/results.json", "evaluates"),
        ("file:evals/results.json", root, "component"),
        ("file:prompts/system.j2", root, "component"),
        ("config:parameters", root, "component"),
    } <= edges(doc)
    assert not [n for n in doc["nodes"] if n["kind"] in ("stage", "dataset")]
    assert "evaluated with evaluation.suite  evals/suite.yaml" in repo.modelver("lineage", "v1.0.0").out
