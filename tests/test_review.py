"""`review`: what a pull request will release, and whether each of its commits passes the pre-commit checks,
on real branches of a real repository."""

from __future__ import annotations

import json

import pytest
from helpers import GitRepo, seed

POINTER = "outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: adapter.safetensors\n"


@pytest.fixture
def pr(repo: GitRepo) -> GitRepo:
    """main with support-bot v1.0.0; branch `feature` with a prompt edit, a parameter change and new
    weights, each committed (and locked) on its own."""
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("prompts/system.j2", "You are a terse support bot for {{ product }}.\nNever guess.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("Terser system prompt")
    text = repo.read("modelver.toml").replace("temperature = 0.2", "temperature = 0.35")
    repo.write("modelver.toml", text)
    repo.commit_all("Warmer")
    repo.write("models/adapter.safetensors.dvc", POINTER.format(md5="a" * 32, size=48 * 1024))
    repo.write(
        "modelver.toml",
        repo.read("modelver.toml") + '\n[weights.adapter]\ndvc = "models/adapter.safetensors.dvc"\n',
    )
    assert repo.modelver("lock").code == 0
    repo.commit_all("Add the adapter")
    return repo


def test_markdown_names_the_level_the_version_and_every_change(pr: GitRepo) -> None:
    result = pr.modelver("review", "--base", "main", "--format", "md")
    assert result.code == 0, result.out + result.err
    md = result.out
    assert md.startswith("## support-bot: support-bot@v1.0.0 → support-bot@v1.1.0 (minor)")
    assert "✅ ready to release" in md
    assert "-You are a helpful support bot for {{ product }}." in md
    assert "+You are a terse support bot for {{ product }}." in md
    assert "+Never guess." in md
    assert "<details>" in md and "<summary><code>prompts/system.j2</code>" in md
    assert "| `parameters.temperature` | `0.2` | `0.35` |" in md
    assert "`aaaaaaaaaaaa`" in md and "48.0 KiB" in md
    assert md.count("| ✅ |") == 3  # three commits, each passing


def test_json_carries_the_same(pr: GitRepo) -> None:
    found = pr.modelver("review", "--base", "main", "--json").json()
    assert found["next"] == "support-bot@v1.1.0" and found["bump"] == "minor" and found["ok"] is True
    assert [p["key"] for p in found["prompts"]] == ["prompts.system"]
    assert found["prompts"][0]["added"] == 2 and found["prompts"][0]["removed"] == 1
    assert found["parameters"] == [
        {"path": "parameters.temperature", "old": 0.2, "new": 0.35, "level": "patch"}
    ]
    assert found["weights"][0]["new"] == {"md5": "a" * 32, "size": 48 * 1024}
    assert found["weights"][0]["old"] == {"md5": None, "size": None}
    assert [c["subject"] for c in found["commits"]] == ["Terser system prompt", "Warmer", "Add the adapter"]


def test_a_middle_commit_that_skipped_the_hooks_fails_the_review(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.git("checkout", "-q", "-b", "sneaky")
    repo.write("prompts/greeting.j2", "Hi {{ name }}, buy now!\n")
    bad = repo.commit_all("Edit the greeting without lock")  # --no-verify: no hook ran
    assert repo.modelver("lock").code == 0
    repo.commit_all("Lock")  # the tip is fine again
    result = repo.modelver("review", "--base", "main", "--format", "md")
    assert result.code == 1
    assert f"`{bad[:12]}`" in result.out
    assert "prompts/greeting.j2: staged prompt does not match its pin" in result.out
    text = repo.modelver("review", "--base", "main")
    assert text.code == 1 and f"commit {bad[:12]} FAIL" in text.out


def test_a_policy_that_would_refuse_the_release_fails_the_review(pr: GitRepo) -> None:
    pr.write("modelver.toml", pr.read("modelver.toml") + "\n[policy]\nrequire_eval = true\n")
    pr.commit_all("Require evaluation")
    found = pr.modelver("review", "--base", "main", "--json")
    assert found.code == 1
    assert any("require_eval" in r for r in found.json()["refusals"])


def test_the_default_base_is_the_merge_base_with_the_default_branch(pr: GitRepo) -> None:
    found = pr.modelver("review", "--json").json()
    assert found["base"] == pr.git("rev-parse", "main").strip()
    assert len(found["commits"]) == 3


def test_hostile_text_stays_inside_its_cell_and_its_fence(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.git("checkout", "-q", "-b", "x")
    repo.write("prompts/system.j2", "```\n</details><script>alert(1)</script>\n| a | b |\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("A | pipe and <b>bold</b> in the subject")
    md = repo.modelver("review", "--base", "main", "--format", "md").out
    assert "````diff" in md  # a fence longer than any run of backticks in the diff
    assert "A \\| pipe and <b>bold</b> in the subject" in md
    body = md.split("````diff", 1)[1].split("````", 1)[0]
    assert "+</details><script>alert(1)</script>" in body


def test_an_unknown_base_is_a_usage_error(pr: GitRepo) -> None:
    result = pr.modelver("review", "--base", "nope", "--json")
    assert result.code == 2
    assert "unknown revision 'nope'" in json.loads(result.out)["error"]
