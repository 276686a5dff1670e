"""The GitHub Action (action.yml) and the GitLab CI template run as the CI services run them: every shell
step, in order, with the environment those services give it, on a real repository with an origin.

The install steps are not run (the package under test is installed already), and `gh` (GitHub's own
client, on every GitHub runner) is a script that records how the Action called it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import GitRepo, seed

ROOT = Path(__file__).resolve().parent.parent


def _pull_request(tmp_path: Path, *, sneaky: bool) -> GitRepo:
    """A clone whose branch `feature` edits a prompt (and, if ``sneaky``, skipped the hooks once)."""
    work = GitRepo.create(tmp_path / "work")
    seed(work)
    assert work.modelver("release").code == 0
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    work.git("push", "-q", str(origin), "main", "--tags")
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "pr")], check=True)
    pr = GitRepo(tmp_path / "pr")
    pr.git("checkout", "-q", "-b", "feature")
    pr.write("prompts/greeting.j2", "Hi {{ name }}, welcome back!\n")
    if sneaky:
        pr.commit_all("Greeting, without lock")
    assert pr.modelver("lock").code == 0
    pr.commit_all("Warmer greeting")
    return pr


def _fake_gh(folder: Path) -> Path:
    folder.mkdir()
    gh = folder / "gh"
    gh.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$GH_CALLED"\n')
    gh.chmod(0o755)
    return folder


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _outputs(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def run_action(pr: GitRepo, tmp_path: Path, comment: bool) -> tuple[int, dict[str, Any]]:
    """action.yml's steps in order; the exit code of the first failing step (0: all passed)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    temp = tmp_path / "runner"
    temp.mkdir()
    summary, output, called = temp / "summary.md", temp / "output", temp / "gh-args"
    fake = _fake_gh(tmp_path / "bin")
    base = {
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GH_CALLED": str(called),
        "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
    }
    steps: dict[str, dict[str, str]] = {}
    # What GitHub makes of each step's ${{ … }} for a pull request into main, number 7.
    values = {
        "BASE": "origin/main",
        "GH_TOKEN": "token",
        "NUMBER": "7",
        "PACKAGE": "gitmodelver",
    }
    ran = []
    for step in action["runs"]["steps"]:
        if "run" not in step or step.get("name") == "Install gitmodelver":
            continue
        condition = step.get("if", "")
        if "inputs.comment" in condition and not comment:
            continue
        env = dict(base)
        for key in step.get("env", {}):
            if key in values:
                env[key] = values[key]
            elif key == "REPORT":
                env[key] = steps["review"]["report"]
            elif key == "OK":
                env[key] = steps["review"].get("ok", "")
            else:
                raise AssertionError(f"the test does not know what GitHub sets {key} to")
        output.write_text("")
        result = _run(step["run"], pr.path, {**env, "GITHUB_OUTPUT": str(output)})
        ran.append(step["name"])
        if "id" in step:
            steps[step["id"]] = _outputs(output)
        if result.returncode != 0:
            return result.returncode, {"ran": ran, "summary": summary, "err": result.stderr, "called": called}
    return 0, {"ran": ran, "summary": summary, "called": called, "steps": steps}


def test_the_action_reviews_comments_and_verifies(tmp_path: Path) -> None:
    pr = _pull_request(tmp_path, sneaky=False)
    code, seen = run_action(pr, tmp_path, comment=True)
    assert code == 0, seen
    assert seen["ran"] == [
        "Review the pull request",
        "Comment on the pull request",
        "Verify every version",
        "Fail when the review found problems",
    ]
    summary = seen["summary"].read_text()
    assert summary.startswith("## support-bot: support-bot@v1.0.0 → support-bot@v1.1.0 (minor)")
    assert "+Hi {{ name }}, welcome back!" in summary
    args = seen["called"].read_text().splitlines()
    assert args[:3] == ["pr", "comment", "7"] and args[3] == "--body-file"
    assert Path(args[4]).read_text() == summary


def test_the_action_fails_a_pull_request_whose_commit_skipped_the_hooks(tmp_path: Path) -> None:
    pr = _pull_request(tmp_path, sneaky=True)
    code, seen = run_action(pr, tmp_path, comment=False)
    assert code == 1
    assert seen["ran"][-1] == "Fail when the review found problems"
    assert "the review found problems" in seen["err"]
    assert "❌" in seen["summary"].read_text()


@pytest.mark.parametrize("sneaky", [False, True])
def test_the_gitlab_template_runs_its_script(tmp_path: Path, sneaky: bool) -> None:
    pr = _pull_request(tmp_path, sneaky=sneaky)
    job = yaml.safe_load((ROOT / "ci" / "gitlab-modelver.yml").read_text())["modelver-review"]
    fetch = [line for line in job["before_script"] if line.startswith("git fetch")]
    script = "\n".join(
        [*fetch, *job["script"]]
    )  # GitLab runs a job's lines in one shell, stopping at a failure
    result = _run(script, pr.path, {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"})
    assert result.returncode == (1 if sneaky else 0), result.stderr
    report = (pr.path / "modelver-review.md").read_text()
    assert "support-bot@v1.1.0" in report
    assert ("❌" in report) is sneaky
