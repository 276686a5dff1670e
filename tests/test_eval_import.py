"""`eval import`: result files of real harnesses (inspect-ai with its mock model, promptfoo with its echo
provider, both run here on tiny tasks; lm-evaluation-harness from a file in its documented format) become
evaluation results stamped with the state they evaluated, and gates then apply as usual."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import MANIFEST, GitRepo, seed

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "eval-results.schema.json").read_text("utf-8"))
EVALUATED = (
    MANIFEST
    + """
[evaluation]
results = { path = "evals/results.json" }
gates = { GATES }

[policy]
require_eval = true
"""
)


def system(repo: GitRepo, gates: str) -> str:
    """A committed system whose manifest names evals/results.json and ``gates``; returns its state."""
    repo.write("evals/results.json", "{}\n")
    seed(repo, EVALUATED.replace("GATES", gates))
    result = repo.modelver("digest")
    assert result.code == 0, result.err
    return result.out.strip()


def results(repo: GitRepo) -> dict[str, Any]:
    doc = json.loads(repo.read("evals/results.json"))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    return dict(doc)


def released(repo: GitRepo) -> bool:
    """The results committed, as a user would, then released (require_eval judges them)."""
    repo.commit_all("evaluation results")
    result = repo.modelver("release", "--no-sign")
    assert result.code == 0, result.err
    return True


# --------------------------------------------------------------------------- lm-evaluation-harness


def lm_eval_file(state: str) -> dict[str, Any]:
    """``results_<date>.json``, as ``lm_eval --output_path DIR --metadata '{"modelver_state": …}'``
    writes it."""

    def config(task: str) -> dict[str, Any]:
        return {"task": task, "metadata": {"version": 1.0, "modelver_state": state}}

    return {
        "results": {
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": 0.75,
                "acc_stderr,none": 0.0125,
                "acc_norm,none": 0.7,
            },
            "hellaswag": {"alias": "hellaswag", "acc,none": 0.5, "acc_stderr,none": 0.05},
        },
        "group_subtasks": {"arc_easy": [], "hellaswag": []},
        "configs": {"arc_easy": config("arc_easy"), "hellaswag": config("hellaswag")},
        "versions": {"arc_easy": 1.0, "hellaswag": 1.0},
        "n-shot": {"arc_easy": 0, "hellaswag": 0},
        "higher_is_better": {"arc_easy": {"acc": True, "acc_norm": True}, "hellaswag": {"acc": True}},
        "n-samples": {
            "arc_easy": {"original": 2376, "effective": 100},
            "hellaswag": {"original": 10042, "effective": 100},
        },
        "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m", "batch_size": "1"},
        "git_hash": "a1b2c3d",
        "date": 1733061600.0,
        "lm_eval_version": "0.4.13",
        "total_evaluation_time_seconds": "12.5",
    }


def test_lm_eval_results_become_stamped_results_and_gates_apply(repo: GitRepo) -> None:
    state = system(repo, '"arc_easy/acc,none" = ">= 0.7", "hellaswag/acc,none" = ">= 0.4"')
    raw = repo.write("out/pythia/results_2024-12-01T14-00-00.json", json.dumps(lm_eval_file(state)))
    result = repo.modelver(
        "eval", "import", "--from", "lm-eval", "out/pythia/results_2024-12-01T14-00-00.json"
    )
    assert result.code == 0, result.err
    doc = results(repo)
    assert doc["subject"] == state
    assert doc["metrics"]["arc_easy/acc,none"] == 0.75 and doc["metrics"]["hellaswag/acc_stderr,none"] == 0.05
    assert doc["tasks"]["arc_easy"]["samples"] == 100 and doc["samples"] == 200
    assert doc["tasks"]["hellaswag"]["n-samples"] == {"original": 10042, "effective": 100}
    assert doc["harness"] == {"name": "lm-evaluation-harness", "version": "0.4.13"}
    assert doc["raw"]["path"] == "out/pythia/results_2024-12-01T14-00-00.json"
    assert len(doc["raw"]["sha256"]) == 64 and doc["created_at"].startswith("2024-12-01T")
    assert "ok" in result.out and "arc_easy/acc,none = 0.75" in result.out
    assert released(repo)  # require_eval: bound to this state, gates pass
    assert raw.exists()


def test_a_failing_gate_is_reported_and_release_refuses(repo: GitRepo) -> None:
    state = system(repo, '"hellaswag/acc,none" = ">= 0.6"')
    repo.write("results.json", json.dumps(lm_eval_file(state)))
    result = repo.modelver("eval", "import", "--from", "lm-eval", "results.json", "--json")
    assert result.code == 1
    report = result.json()
    assert report["ok"] is False and report["gates"][0]["value"] == 0.5
    assert results(repo)["subject"] == state  # the truth is written; the gate judges it
    repo.commit_all("evaluation results")
    refused = repo.modelver("release", "--no-sign")
    assert refused.code != 0 and "hellaswag/acc,none" in refused.err


def test_results_of_another_state_are_refused_naming_both(repo: GitRepo) -> None:
    state = system(repo, '"arc_easy/acc,none" = ">= 0.7"')
    repo.write("results.json", json.dumps(lm_eval_file(state)))
    repo.write("prompts/system.j2", "You are a terse support bot.\n")  # the state changes after the run
    now = repo.modelver("digest").out.strip()
    result = repo.modelver("eval", "import", "--from", "lm-eval", "results.json")
    assert result.code == 1
    assert state in result.err and now in result.err and "results.json" in result.err
    assert repo.read("evals/results.json") == "{}\n"  # nothing written


def test_a_file_that_names_no_state_is_refused_saying_how_to_record_it(repo: GitRepo) -> None:
    system(repo, '"arc_easy/acc,none" = ">= 0.7"')
    doc = lm_eval_file("x")
    for config in doc["configs"].values():
        del config["metadata"]["modelver_state"]
    repo.write("results.json", json.dumps(doc))
    result = repo.modelver("eval", "import", "--from", "lm-eval", "results.json", "--json")
    assert result.code == 2
    assert "does not say which state" in result.json()["error"] and "--metadata" in result.json()["error"]


@pytest.mark.parametrize(
    ("harness", "content", "says"),
    [
        ("inspect", "{}", "not an inspect-ai eval log"),
        ("promptfoo", '{"results": {}}', "not a promptfoo output file"),
        ("lm-eval", "[1, 2]", "not a JSON object"),
        ("lm-eval", "{nope", "not valid JSON"),
    ],
)
def test_a_file_of_another_kind_is_refused(repo: GitRepo, harness: str, content: str, says: str) -> None:
    system(repo, 'accuracy = ">= 0.5"')
    repo.write("file.json", content)
    result = repo.modelver("eval", "import", "--from", harness, "file.json")
    assert result.code == 2 and says in result.err and "file.json" in result.err


def test_without_a_results_file_in_the_manifest_the_fix_names_one(repo: GitRepo) -> None:
    seed(repo)
    state = repo.modelver("digest").out.strip()
    repo.write("results.json", json.dumps(lm_eval_file(state)))
    result = repo.modelver("eval", "import", "--from", "lm-eval", "results.json")
    assert result.code == 2 and "(fix: git modelver eval import --from lm-eval" in result.err
    assert (
        repo.modelver("eval", "import", "--from", "lm-eval", "results.json", "-o", "evals/r.json").code == 0
    )
    assert json.loads(repo.read("evals/r.json"))["subject"] == state


# --------------------------------------------------------------------------- inspect-ai, run for real

INSPECT_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate


def reply(input, tools, tool_choice, config):
    # usage given, so the mock model counts no tokens (which would fetch a tokenizer)
    out = ModelOutput.from_content(model="mockllm/model", content="the answer is 4")
    out.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return out


@task
def arithmetic():
    return Task(
        dataset=[
            Sample(input="2+2?", target="4"),
            Sample(input="3+3?", target="6"),
            Sample(input="1+3?", target="4"),
        ],
        solver=generate(),
        scorer=includes(),
        model=get_model("mockllm/model", custom_outputs=reply),
    )
"""


def inspect_cli() -> str:
    pytest.importorskip("inspect_ai", reason="inspect-ai is not installed (.ci/run installs it)")
    return str(Path(sys.executable).parent / "inspect")


def test_inspect_ai_run_is_imported_and_gated(repo: GitRepo, tmp_path: Path) -> None:
    cli = inspect_cli()
    state = system(repo, 'accuracy = ">= 0.6", "arithmetic/accuracy" = ">= 0.6"')
    (tmp_path / "task.py").write_text(INSPECT_TASK)
    run = subprocess.run(
        [cli, "eval", "task.py", "--metadata", f"modelver_state={state}", "--log-format", "json",
         "--log-dir", str(repo.path / "logs"), "--display", "none", "--log-shared", "false"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    (log,) = (repo.path / "logs").glob("*.json")
    result = repo.modelver("eval", "import", "--from", "inspect", str(log))
    assert result.code == 0, result.err
    doc = results(repo)
    assert doc["subject"] == state and doc["harness"]["name"] == "inspect-ai"
    assert doc["metrics"]["accuracy"] == pytest.approx(2 / 3) and "arithmetic/stderr" in doc["metrics"]
    assert doc["tasks"]["arithmetic"]["samples"] == 3 and doc["raw"]["path"] == f"logs/{log.name}"
    assert released(repo)


# --------------------------------------------------------------------------- promptfoo, run for real

PROMPTFOO_CONFIG = """\
description: greetings
metadata:
  modelver_state: "{{ env.MODELVER_STATE }}"
prompts:
  - "Say {{word}}"
providers:
  - echo
tests:
  - vars: {word: hello}
    assert: [{type: contains, value: hello}]
  - vars: {word: goodbye}
    assert: [{type: contains, value: goodbye}]
  - vars: {word: thanks}
    assert: [{type: contains, value: sorry}]
"""


def promptfoo_cli() -> str:
    local = ROOT / "build" / "promptfoo" / "node_modules" / ".bin" / "promptfoo"
    found = str(local) if local.exists() else shutil.which("promptfoo")
    if found is None:
        pytest.skip("promptfoo is not installed (.ci/run installs it into build/promptfoo from npm)")
    return found


def test_promptfoo_run_is_imported_and_gated(repo: GitRepo, tmp_path: Path) -> None:
    cli = promptfoo_cli()
    state = system(repo, 'pass_rate = ">= 0.6", failures = "<= 1"')
    (tmp_path / "promptfooconfig.yaml").write_text(PROMPTFOO_CONFIG)
    env = {**os.environ, "MODELVER_STATE": state, "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_CONFIG_DIR": str(tmp_path / ".promptfoo")}  # fmt: skip
    run = subprocess.run(
        [cli, "eval", "-c", "promptfooconfig.yaml", "-o", str(repo.path / "promptfoo.json"), "--no-cache",
         "--no-progress-bar"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert run.returncode in (0, 100), run.stderr + run.stdout  # 100: some test failed, as here
    result = repo.modelver("eval", "import", "--from", "promptfoo", "promptfoo.json")
    assert result.code == 0, result.err
    doc = results(repo)
    assert doc["subject"] == state and doc["harness"]["name"] == "promptfoo"
    assert doc["metrics"]["pass_rate"] == pytest.approx(2 / 3)
    assert doc["metrics"]["failures"] == 1 and doc["metrics"]["[echo] Say {{word}}/testPassCount"] == 2
    assert doc["samples"] == 3 and doc["raw"]["path"] == "promptfoo.json"
    assert released(repo)
    # the same run judged by a stricter gate fails, as any results would
    manifest = repo.read("modelver.toml").replace('pass_rate = ">= 0.6"', 'pass_rate = ">= 0.9"')
    repo.write("modelver.toml", manifest)
    again = repo.modelver("eval", "import", "--from", "promptfoo", "promptfoo.json")
    assert again.code == 1 and "pass_rate" in again.err
