"""Evaluation results bound to the state digest, and gates, enforced at release (SPEC §4)."""

from __future__ import annotations

import json

from helpers import MANIFEST, GitRepo, seed

EVAL = """
[evaluation]
results = { path = "evals/results.json" }
gates = { accuracy = ">= 0.85", toxicity = "<= 0.01" }

[policy]
require_eval = true
"""


def stamp(repo: GitRepo, metrics: dict[str, float], subject: str | None = None) -> None:
    state = subject or repo.modelver("digest").out.strip()
    repo.write(
        "evals/results.json",
        json.dumps({"subject": state, "metrics": metrics, "created_at": "2026-11-27T09:00:00Z"}),
    )
    assert repo.modelver("lock").code == 0
    repo.commit_all("evaluation")


def evaluated(repo: GitRepo, extra: str = EVAL) -> GitRepo:
    repo.write("evals/results.json", "{}")  # a placeholder until the first evaluation
    seed(repo, MANIFEST + extra)
    return repo


def test_fresh_passing_results_release(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.9, "toxicity": 0.001})
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    show = repo.modelver("show", "v1.0.0", "--json").json()
    assert show["evaluation"]["bound"] is True
    assert [g["ok"] for g in show["evaluation"]["gates"]] == [True, True]


def test_results_for_another_state_are_refused(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.9, "toxicity": 0.001})
    repo.write("prompts/system.j2", "Changed after the evaluation.\n")
    repo.modelver("lock")
    repo.commit_all("late prompt edit")
    result = repo.modelver("release")
    assert result.code == 1
    assert "evals/results.json: results are for" in result.err and "git modelver digest" in result.err
    assert repo.tags() == []


def test_failing_gate_is_refused(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.80, "toxicity": 0.001})
    result = repo.modelver("release")
    assert result.code == 1
    assert "gate failed: accuracy = 0.8 (needs >= 0.85)" in result.err
    assert repo.tags() == []


def test_missing_metric_fails_its_gate(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.95})
    result = repo.modelver("release")
    assert result.code == 1 and "toxicity = missing" in result.err


def test_results_must_match_their_schema(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.9, "toxicity": 0.0}, subject="not-a-digest")
    result = repo.modelver("release")
    assert result.code == 1 and "evals/results.json" in result.err


def test_without_require_eval_stale_results_only_warn(repo: GitRepo) -> None:
    evaluated(repo, EVAL.replace("require_eval = true", "require_eval = false"))
    stamp(repo, {"accuracy": 0.9, "toxicity": 0.001}, subject="sha256:" + "0" * 64)
    result = repo.modelver("release")
    assert result.code == 0, result.err
    assert "warning:" in result.err


def test_require_eval_without_results_is_refused(repo: GitRepo) -> None:
    seed(repo, MANIFEST + "\n[policy]\nrequire_eval = true\n")
    result = repo.modelver("release")
    assert result.code == 1 and "names no results file" in result.err


def test_evaluation_changes_are_patch_and_do_not_move_the_state(repo: GitRepo) -> None:
    evaluated(repo)
    stamp(repo, {"accuracy": 0.9, "toxicity": 0.001})
    repo.modelver("release")
    before = repo.modelver("digest", "--json").json()
    stamp(repo, {"accuracy": 0.91, "toxicity": 0.001})
    after = repo.modelver("digest", "--json").json()
    assert after["state"] == before["state"] and after["version"] != before["version"]
    assert repo.modelver("release", "--json").json()["bump"] == "patch"
