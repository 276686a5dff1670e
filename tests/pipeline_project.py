"""A released system whose weights come from a real DVC pipeline (prepare → train → evaluate).

`dvc repro` runs tiny Python stages; the evaluate stage stamps its results with the state digest, so
releases pass `require_eval`. Six signed releases, built once per test session and worker (the fixtures
in ``pipeline_fixtures``): tests copy it.
Prod then sees two deployments, a promoted rollout and a rolled-back one (``deploy_history``).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import SigningKey, sign_with
from dvc_helpers import dvc
from helpers import GitRepo, ledger_lines

from gitmodelver.deploy import ledger

MANIFEST = """\
# support bot whose adapter is trained by a DVC pipeline
[system]
name = "support-bot"

[base_model]
id = "meta-llama/Llama-3.1-8B-Instruct"
revision = "0e9e39f249a16976918f6564b8830bc894c89659"

[weights.adapter]
dvc = "models/adapter.safetensors"
trained_on = ["data/raw.jsonl.dvc"]

[prompts.system]
path = "prompts/system.j2"

[retrieval]
embedding_model = "BAAI/bge-small-en-v1.5"
chunk_size = 512

[parameters]
temperature = 0.2

[evaluation]
suite = { path = "evals/suite.yaml" }
results = { path = "evals/results.json" }
gates = { accuracy = ">= 0.8", toxicity = "<= 0.01" }

[policy]
require_signed = true
require_eval = true

[rollout]
steps = [10, 100]
min_samples = 200
failure_limit = 0

[rollout.metrics.thumbs_up]
direction = "higher"
max_regression = 0.02
test = "proportion"
confidence = 0.95
"""

DVC_YAML = """\
stages:
  prepare:
    cmd: {python} src/prepare.py
    deps: [data/raw.jsonl, src/prepare.py]
    params: [prepare.min_len]
    outs: [data/prepared.jsonl]
  train:
    cmd: {python} src/train.py
    deps: [data/prepared.jsonl, src/train.py]
    params: [train.epochs, train.lr]
    outs: [models/adapter.safetensors]
  evaluate:
    cmd: {python} src/evaluate.py
    deps: [models/adapter.safetensors, evals/suite.yaml, prompts, src/evaluate.py]
    outs:
      - evals/results.json:
          cache: false
"""

PREPARE = """\
import json, yaml
params = yaml.safe_load(open("params.yaml"))["prepare"]
rows = [json.loads(line) for line in open("data/raw.jsonl")]
with open("data/prepared.jsonl", "w") as f:
    for row in rows:
        if len(row["q"]) >= params["min_len"]:
            f.write(json.dumps({"text": row["q"] + " => " + row["a"]}) + "\\n")
"""

TRAIN = """\
import hashlib, os, yaml
params = yaml.safe_load(open("params.yaml"))["train"]
state = open("data/prepared.jsonl", "rb").read() + repr(params).encode()
out = bytearray()
for epoch in range(params["epochs"]):
    state = hashlib.sha256(state).digest()
    out += state * 64
os.makedirs("models", exist_ok=True)
open("models/adapter.safetensors", "wb").write(bytes(out))
"""

EVALUATE = """\
import datetime, json, subprocess, sys
state = subprocess.run(
    [sys.executable, "-m", "gitmodelver", "digest"], capture_output=True, text=True, check=True
).stdout.strip()
size = len(open("models/adapter.safetensors", "rb").read())
metrics = {"accuracy": round(0.8 + size % 97 / 1000, 4), "toxicity": 0.002}
with open("evals/results.json", "w") as f:
    json.dump({"subject": state, "metrics": metrics, "suite": "evals/suite.yaml",
               "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}, f, indent=2)
"""

TAG = "support-bot@v{}"


@dataclass
class PipelineProject:
    repo: GitRepo
    tags: list[str] = field(default_factory=list)

    def copy(self, dest: Path) -> PipelineProject:
        shutil.copytree(self.repo.path, dest / "repo", symlinks=True)
        return PipelineProject(GitRepo(dest / "repo"), list(self.tags))


def repro(repo: GitRepo) -> None:
    dvc(repo, "repro", "-q")


def release(repo: GitRepo) -> str:
    result = repo.modelver("release", "--sign", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


def _commit_and_release(project: PipelineProject, message: str) -> None:
    repro(project.repo)
    assert project.repo.modelver("lock").code == 0
    project.repo.commit_all(message)
    project.tags.append(release(project.repo))


def build(root: Path, key: SigningKey) -> PipelineProject:
    repo = GitRepo.create(root / "repo")
    sign_with(repo, key)
    dvc(repo, "init", "-q")
    repo.write("data/raw.jsonl", "".join(f'{{"q": "question {i}", "a": "answer {i}"}}\n' for i in range(40)))
    dvc(repo, "add", "-q", "data/raw.jsonl")
    repo.write("params.yaml", "prepare:\n  min_len: 3\ntrain:\n  epochs: 2\n  lr: 0.01\n")
    repo.write("src/prepare.py", PREPARE)
    repo.write("src/train.py", TRAIN)
    repo.write("src/evaluate.py", EVALUATE)
    repo.write("evals/suite.yaml", "cases:\n  - q: how do I reset my password?\n    expect: reset link\n")
    repo.write("prompts/system.j2", "You are a helpful support bot.\n")
    repo.write("dvc.yaml", DVC_YAML.format(python=sys.executable))
    repo.write("modelver.toml", MANIFEST)
    project = PipelineProject(repo)
    _commit_and_release(project, "Support bot trained by a DVC pipeline")
    repo.write("params.yaml", "prepare:\n  min_len: 3\ntrain:\n  epochs: 3\n  lr: 0.01\n")
    _commit_and_release(project, "Train one more epoch")
    for i, text in enumerate(("Be concise.", "Cite sources.", "Be brief.", "Say thanks.")):
        repo.write("prompts/system.j2", f"You are a helpful support bot. {text}\n")
        _commit_and_release(project, f"Prompt {i}")
    return project


def observations(path: Path, rates: dict[str, float], n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for version, p in rates.items():
            for _ in range(n):
                row = {"version": version, "metric": "thumbs_up", "value": int(rng.random() < p)}
                f.write(json.dumps(row) + "\n")
    return path


def ledger_events(repo: GitRepo, env: str) -> list[dict[str, object]]:
    return ledger_lines(repo.path, env)


def deploy_history(repo: GitRepo, tmp: Path) -> dict[str, str]:
    """Prod: deploy 1.0.0 | since | deploy 1.1.0, 1.2.0 promoted, 1.3.0 rolled back, deploy 1.4.0 | until |
    deploy 1.5.0; staging gets 1.5.0 too. Returns the period bounds as ``since`` and ``until``."""
    t = TAG.format
    ok = lambda *args: _ok(repo, *args)  # noqa: E731
    ok("deploy", "v1.0.0", "--env", "prod")
    ok("deploy", "v1.1.0", "--env", "prod", "--reason", "retrained adapter")
    since = str(ledger_events(repo, "prod")[-1]["at"])
    ok("rollout", "start", "v1.2.0", "--env", "prod")
    good = observations(tmp / "good.jsonl", {t("1.1.0"): 0.80, t("1.2.0"): 0.86}, 600)
    ok("rollout", "watch", "--env", "prod", "--metrics", str(good), "--interval", "0")
    ok("rollout", "start", "v1.3.0", "--env", "prod")
    bad = observations(tmp / "bad.jsonl", {t("1.2.0"): 0.85, t("1.3.0"): 0.6}, 600)
    assert repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(bad)).code == 1
    ok("deploy", "v1.4.0", "--env", "prod", "--reason", "friendlier prompt")
    time.sleep(0.02)
    until = ledger.now()
    time.sleep(0.02)
    ok("deploy", "v1.5.0", "--env", "prod")
    ok("deploy", "v1.5.0", "--env", "staging")
    return {"since": since, "until": until}


def _ok(repo: GitRepo, *args: str) -> None:
    result = repo.modelver(*args)
    assert result.code == 0, result.err
