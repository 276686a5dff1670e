"""DVC pipelines read as files (core.pipeline): staleness, params pins and metrics bound by dvc.lock.

The core is pure and reads through a ``Tree``; these tables use an in-memory one. The same rules on real
repositories with real ``dvc repro`` are in test_realworld.py.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from helpers import GitRepo

from gitmodelver.core import evaluation, pins, pipeline


class FilesTree:
    """A tree of files in memory, listing folders the way the working tree does (``complete``)."""

    label = "MEMORY"
    complete = True

    def __init__(self, files: dict[str, str | bytes]) -> None:
        self.data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}

    def read(self, path: str) -> bytes | None:
        return self.data.get(path)

    def blob(self, path: str) -> bytes | None:
        return self.data.get(path)

    def sha256(self, path: str) -> str | None:
        data = self.data.get(path)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def exists(self, path: str) -> bool:
        return path in self.data or any(k.startswith(path + "/") for k in self.data)

    def link(self, path: str) -> str | None:
        return None

    def files(self, folder: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(folder + "/"))


def md5(text: str | bytes) -> str:
    return hashlib.md5(text.encode() if isinstance(text, str) else text).hexdigest()


TRAIN = "print('train')\n"
PARAMS = "train:\n  n_est: 50\n  lr: 0.1\nother: 1\n"
DVC_YAML = """\
stages:
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/features]
    params: [train.n_est]
    outs: [model.pkl]
  evaluate:
    cmd: python src/evaluate.py
    deps: [model.pkl]
    metrics:
      - eval/metrics.json:
          cache: false
"""
FEATURES = {"data/features/a.jsonl": "a\n", "data/features/b.jsonl": "b\n"}


def features_md5() -> str:
    listing = [{"md5": md5(v), "relpath": k.split("/", 2)[2]} for k, v in sorted(FEATURES.items())]
    return md5(json.dumps(listing, sort_keys=True)) + ".dir"


def lock(
    *,
    n_est: int = 50,
    train_md5: str | None = None,
    model: str = "m" * 32,
    evaluated: str | None = None,
    cmd: str = "python src/train.py",
    metrics: str = '{"acc": 0.9}',
) -> str:
    return f"""\
schema: '2.0'
stages:
  train:
    cmd: {cmd}
    deps:
    - path: src/train.py
      hash: md5
      md5: {train_md5 or md5(TRAIN)}
    - path: data/features
      hash: md5
      md5: {features_md5()}
      nfiles: 2
    params:
      params.yaml:
        train.n_est: {n_est}
    outs:
    - path: model.pkl
      hash: md5
      md5: {model}
  evaluate:
    cmd: python src/evaluate.py
    deps:
    - path: model.pkl
      hash: md5
      md5: {evaluated or model}
    outs:
    - path: eval/metrics.json
      hash: md5
      md5: {md5(metrics)}
"""


def project(**changes: str | bytes) -> FilesTree:
    files: dict[str, str | bytes] = {
        "dvc.yaml": DVC_YAML,
        "dvc.lock": lock(),
        "params.yaml": PARAMS,
        "src/train.py": TRAIN,
        "eval/metrics.json": '{"acc": 0.9}',
        **FEATURES,
    }
    files.update(changes)
    return FilesTree({k: v for k, v in files.items() if v != ""})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"params.yaml": PARAMS.replace("50", "75")}, ["train: params train.n_est 50 -> 75"]),
        ({"params.yaml": PARAMS.replace("lr: 0.1", "lr: 0.2")}, []),  # a key no stage reads
        ({"src/train.py": TRAIN + "# tuned\n"}, ["train: dependency src/train.py changed"]),
        ({"data/features/c.jsonl": "c\n"}, ["train: dependency data/features changed"]),
        ({"data/features/a.jsonl": ""}, ["train: dependency data/features changed"]),
        ({"src/train.py": ""}, ["train: dependency src/train.py is missing"]),
        ({"dvc.lock": lock(cmd="python src/old.py")}, ["train: its command changed"]),
        ({"params.yaml": "other: 1\n"}, ["train: params train.n_est removed from params.yaml"]),
        (
            {"dvc.yaml": DVC_YAML + "  report:\n    cmd: python src/report.py\n"},
            ["report: never run"],
        ),
    ],
)
def test_stale_stages(changes: dict[str, str], expected: list[str]) -> None:
    assert [str(s) for s in pipeline.stale_stages(project(**changes), [""])] == expected


def test_a_stage_that_ran_on_another_output_is_stale() -> None:
    stale = pipeline.stale_stages(project(**{"dvc.lock": lock(evaluated="o" * 32)}), [""])
    assert [str(s) for s in stale] == ["evaluate: dependency model.pkl changed"]


def test_dvc2_hashes_text_with_crlf_folded() -> None:
    crlf = TRAIN.replace("\n", "\r\n")
    legacy = lock(train_md5=md5(TRAIN)).replace(
        "    - path: src/train.py\n      hash: md5\n", "    - path: src/train.py\n"
    )
    assert pipeline.stale_stages(project(**{"src/train.py": crlf, "dvc.lock": legacy}), [""]) == []


def test_a_folder_git_sees_only_in_part_cannot_be_judged() -> None:
    tree = project(**{"data/features/c.jsonl": "c\n"})
    tree.complete = False  # a commit tree: Git may lack files DVC hashed (nfiles says 2, Git has 3)
    assert pipeline.stale_stages(tree, [""]) == []


@pytest.mark.parametrize(
    ("keys", "values", "why"),
    [
        (None, {"train": {"n_est": 50, "lr": 0.1}, "other": 1}, None),
        (("train.n_est",), {"train": {"n_est": 50}}, None),
        (("train",), {"train": {"n_est": 50, "lr": 0.1}}, None),
        (("train.depth", "other"), None, "params.yaml has no train.depth"),
    ],
)
def test_params_pins(keys: tuple[str, ...] | None, values: object, why: str | None) -> None:
    assert pins.params_pin(project(), "params.yaml", keys) == (values, why)


def test_params_pins_read_json_and_toml() -> None:
    tree = FilesTree({"p.json": '{"a": {"b": 2}}', "p.toml": "[a]\nb = 3\n"})
    assert pins.params_pin(tree, "p.json", ("a.b",)) == ({"a": {"b": 2}}, None)
    assert pins.params_pin(tree, "p.toml", ("a.b",)) == ({"a": {"b": 3}}, None)


def test_metrics_are_bound_by_an_up_to_date_stage() -> None:
    assert evaluation.metrics_binding(project(), "eval/metrics.json") == (
        True,
        "stage evaluate in dvc.lock is up to date",
    )


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"eval/metrics.json": '{"acc": 0.99}'}, "was edited after `dvc repro`"),
        ({"dvc.lock": lock(evaluated="o" * 32)}, "stage evaluate: dependency model.pkl changed"),
        ({"dvc.lock": "schema: '2.0'\nstages: {}\n"}, "no dvc.lock stage records eval/metrics.json"),
    ],
)
def test_metrics_that_are_not_of_this_state(changes: dict[str, str], why: str) -> None:
    bound, said = evaluation.metrics_binding(project(**changes), "eval/metrics.json")
    assert not bound and why in said, said


def test_gates_judge_flattened_metrics() -> None:
    tree = FilesTree({"eval/m.json": '{"test": {"acc": 0.9}, "loss": 0.2, "note": "x"}'})
    data = {
        "evaluation": {"metrics": {"path": "eval/m.json"}, "gates": {"test.acc": ">= 0.95", "loss": "< 0.3"}}
    }
    found = evaluation.assess(tree, data, "", "sha256:" + "0" * 64)
    assert found is not None
    assert [(g.metric, g.ok) for g in found.gates] == [("test.acc", False), ("loss", True)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: null\n", "a is null, which TOML cannot hold"),
        ("a:\n  b: .nan\n", "a.b is nan, which a manifest cannot hold"),
        ("a:\n  1: x\n", "key 1 is not text"),
        ("a: 99999999999999999999999\n", "a is outside TOML's 64-bit integers"),
        ("a:\n  b:\n    c: 1\n", "a.b.c nest deeper than the manifest allows"),
    ],
)
def test_params_a_manifest_cannot_hold_are_no_pin(text: str, why: str) -> None:
    values, said = pins.params_pin(FilesTree({"params.yaml": text}), "params.yaml", None, room=2)
    assert values is None and said is not None and why in said, said


def test_lock_refuses_params_it_could_not_write(tmp_path: Path) -> None:
    """A params file with a null is bad input (exit 2), and the manifest stays as it was."""
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("params.yaml", "train:\n  lr: 0.1\n  seed: null\n")
    manifest = '[system]\nname = "bot"\n\n[parameters]\nparams = "params.yaml"\n'
    repo.write("modelver.toml", manifest)
    result = repo.modelver("lock")
    assert result.code == 2 and "train.seed is null, which TOML cannot hold" in result.err
    assert repo.read("modelver.toml") == manifest
    repo.write("modelver.toml", manifest + 'keys = ["train.lr"]\n')  # the keys a manifest can pin
    assert repo.modelver("lock").code == 0
    assert tomllib.loads(repo.read("modelver.toml"))["parameters"]["values"] == {"train": {"lr": 0.1}}


def test_templated_stages_name_no_model_init_would_have_to_invent() -> None:
    dvc_yaml = """\
vars:
  - folder: models
stages:
  train:
    cmd: python train.py ${folder}
    outs:
      - ${folder}/model.pkl
  export:
    cmd: python export.py
    outs:
      - model.onnx
"""
    found = pipeline.read_pipeline(FilesTree({"dvc.yaml": dvc_yaml}), "dvc.yaml")
    assert found is not None and pipeline.model_outputs(found) == ["model.onnx"]
