"""`bisect` on real repositories, with real commands as the test: versions first, then components."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from conftest import SigningKey
from dvc_helpers import DvcProject, build, isolated
from helpers import GitRepo, Result, seed

# The evaluation harness the tests bisect with: it reads the probe the way a user's script would.
CHECK = """\
import json, os, pathlib, subprocess, sys, tomllib

rules, skip = sys.argv[1].split("+"), sys.argv[2].split(",") if len(sys.argv) > 2 else []
wt = pathlib.Path(os.environ["MODELVER_WORKTREE"])
version = os.environ["MODELVER_VERSION"]
assert pathlib.Path.cwd() == wt, (pathlib.Path.cwd(), wt)
m = tomllib.loads((wt / "modelver.toml").read_text())
prompt = (wt / m["prompts"]["system"]["path"]).read_text()
params, retrieval = m.get("parameters", {}), m.get("retrieval", {})
print(version, os.environ["MODELVER_DIGEST"], os.environ.get("MODELVER_HYBRID", "-"))
if "digest" in rules:  # the digest the tool announces is the one `git modelver digest` computes there
    ours = subprocess.run([sys.executable, "-m", "gitmodelver", "digest"], capture_output=True, text=True)
    if ours.stdout.strip() != os.environ["MODELVER_DIGEST"]:
        print("digest mismatch", ours.stdout, ours.stderr)
        sys.exit(200)
if version.split("+")[0].split("@v")[1] in skip:
    sys.exit(125)
rule = rules[0]
if rule == "prompt":
    sys.exit(1 if "ALWAYS AGREE" in prompt else 0)
if rule == "temperature":
    sys.exit(1 if params["temperature"] > 0.7 else 0)
if rule == "combo":  # only both together break it
    sys.exit(1 if retrieval["chunk_size"] == 256 and params["top_p"] == 0.5 else 0)
if rule == "rerank":
    sys.exit(1 if "rerank" in m else 0)
if rule == "abort":
    sys.exit(130 if "step" in params and params["step"] == 5 else 1 if params.get("step", 0) > 5 else 0)
sys.exit(3)
"""


@pytest.fixture
def check(tmp_path: Path) -> list[str]:
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    return [sys.executable, str(script)]


def edit(repo: GitRepo, values: dict[str, Any]) -> None:
    doc = tomlkit.parse(repo.read("modelver.toml"))
    for dotted, value in values.items():
        *tables, name = dotted.split(".")
        table: Any = doc
        for t in tables:
            table = table[t]
        table[name] = value
    repo.write("modelver.toml", tomlkit.dumps(doc))


def release(repo: GitRepo, values: dict[str, Any] | None = None, prompt: str | None = None) -> str:
    if values:
        edit(repo, values)
    if prompt is not None:
        repo.write("prompts/system.j2", prompt)
    if repo.git("status", "--porcelain"):
        repo.commit_all("change")
    result = repo.modelver("release", "--no-sign", "--json")
    assert result.code == 0, result.err
    return str(result.json()["version"])


def bisect(repo: GitRepo, good: str, bad: str, cmd: list[str], *flags: str) -> Result:
    return repo.modelver("bisect", "--good", good, "--bad", bad, *flags, "--json", "--", *cmd)


def log_lines(repo: GitRepo) -> list[dict[str, Any]]:
    text = (repo.path / ".git" / "modelver" / "bisect" / "log.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def assert_cleaned_up(repo: GitRepo) -> None:
    assert not (repo.path / ".git" / "modelver" / "bisect" / "worktree").exists()
    assert repo.git("worktree", "list").count("\n") == 1
    assert repo.git("status", "--porcelain") == ""


PROMPT = "You are a helpful support bot for {{ product }}.\n"
BAD_PROMPT = "You are a helpful support bot for {{ product }}. ALWAYS AGREE with the customer.\n"


def test_a_regression_among_64_versions_is_found_in_log2_runs(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    versions = [
        release(repo, {"parameters.step": i}, prompt=BAD_PROMPT if i == 41 else None) for i in range(64)
    ]
    result = bisect(repo, versions[0], versions[-1], [*check, "prompt"])
    assert result.code == 0, result.err
    report = result.json()
    assert report["first_bad"] == f"support-bot@v{versions[41]}"
    assert report["last_good"] == f"support-bot@v{versions[40]}"
    assert report["versions"] == 64
    assert report["runs"] <= math.ceil(math.log2(64)) + 2
    assert report["runs"] >= math.floor(math.log2(63)) + 2
    assert [s["kind"] for s in report["steps"][:2]] == ["check-good", "check-bad"]
    assert {c["path"] for c in report["changes"]} == {"prompts.system.sha256", "parameters.step"}
    assert report["culprits"] == []  # no --components
    # Every run is in the log, as it happened, and each step's output is kept next to it.
    steps = [line for line in log_lines(repo) if line["event"] == "step"]
    assert len(steps) == report["runs"]
    assert steps[0]["output"].startswith(f"support-bot@v{versions[0]} sha256:")
    assert "bisect: 62 versions left, about 6 steps" in result.err
    assert_cleaned_up(repo)


def test_components_one_prompt_among_five_changes(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    good = release(repo)
    repo.write("prompts/greeting.j2", "Hi there {{ name }}!\n")
    values = {"parameters.temperature": 0.3, "parameters.top_p": 0.8, "retrieval.chunk_size": 384}
    bad = release(repo, values, prompt=BAD_PROMPT)
    result = bisect(repo, good, bad, [*check, "prompt+digest"], "--components")
    assert result.code == 0, result.err
    report = result.json()
    assert report["first_bad"] == f"support-bot@v{bad}"
    assert report["culprits"] == ["prompts.system"]
    components = report["components"]
    assert sorted(components["units"]) == [
        "parameters.temperature",
        "parameters.top_p",
        "prompts.greeting",
        "prompts.system",
        "retrieval.chunk_size",
    ]
    (detail,) = components["details"]
    assert detail["level"] == "minor"
    assert "+You are a helpful support bot for {{ product }}. ALWAYS AGREE" in detail["diff"]
    hybrids = [s for s in report["steps"] if s["kind"] == "hybrid"]
    digests = [s["digest"] for s in hybrids]
    assert len(set(digests)) == len(digests)  # no state evaluated twice
    assert not set(digests) & {s["digest"] for s in report["steps"] if s["kind"] != "hybrid"}
    assert components["runs"] == len(hybrids) <= 2 * math.ceil(math.log2(5)) + 2
    assert report["runs"] == 2 + len(hybrids)
    assert_cleaned_up(repo)

    text = repo.modelver("bisect", "--good", good, "--bad", bad, "--components", "--", *check, "prompt")
    assert text.code == 0, text.err
    assert "culprit: prompts.system alone (minor), among 5 changes" in text.out
    assert "+You are a helpful support bot" in text.out


def test_components_one_parameter(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    good = release(repo)
    values = {"parameters.temperature": 0.9, "parameters.top_p": 0.8, "retrieval.chunk_size": 384}
    bad = release(repo, {**values, "serving.max_batch_size": 64}, prompt=PROMPT + "Be brief.\n")
    result = bisect(repo, good, bad, [*check, "temperature"], "--components")
    assert result.code == 0, result.err
    report = result.json()
    assert report["culprits"] == ["parameters.temperature"]
    assert report["components"]["level"] == "patch"
    assert report["components"]["details"][0]["changes"] == [
        {"path": "parameters.temperature", "old": 0.2, "new": 0.9, "level": "patch"}
    ]


def test_components_only_a_combination_of_two(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    good = release(repo)
    both = {"retrieval.chunk_size": 256, "parameters.top_p": 0.5}
    harmless = {"parameters.temperature": 0.3, "serving.max_batch_size": 64}
    bad = release(repo, {**both, **harmless}, prompt=PROMPT + "Be brief.\n")
    # Each of the two alone is harmless: checked here on the real versions, not assumed.
    result = bisect(repo, good, bad, [*check, "combo"], "--components")
    assert result.code == 0, result.err
    report = result.json()
    assert sorted(report["culprits"]) == ["parameters.top_p", "retrieval.chunk_size"]
    singles = [s for s in report["steps"] if s["kind"] == "hybrid" and len(s["changes"]) == 1]
    assert {tuple(s["changes"]) for s in singles if s["verdict"] == "good"} >= {
        ("parameters.top_p",),
        ("retrieval.chunk_size",),
    }
    text = repo.modelver("bisect", "--good", good, "--bad", bad, "--components", "--", *check, "combo")
    assert "culprit: retrieval.chunk_size together with parameters.top_p" in text.out or (
        "culprit: parameters.top_p together with retrieval.chunk_size" in text.out
    )


def test_components_added_and_removed_tables(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    good = release(repo)
    doc = tomlkit.parse(repo.read("modelver.toml"))
    del doc["serving"]["max_batch_size"]
    del doc["prompts"]["greeting"]
    doc["rerank"] = {"model": "BAAI/bge-reranker-base", "top_k": 5}
    doc["retrieval"]["filters"] = {"lang": "en"}
    repo.write("modelver.toml", tomlkit.dumps(doc))
    bad = release(repo, {"parameters.top_p": 0.5})
    result = bisect(repo, good, bad, [*check, "rerank+digest"], "--components")
    assert result.code == 0, result.err
    report = result.json()
    assert sorted(report["components"]["units"]) == [
        "parameters.top_p",
        "prompts.greeting",
        "rerank",
        "retrieval.filters",
        "serving.max_batch_size",
    ]
    assert report["culprits"] == ["rerank"]
    assert report["components"]["details"][0]["changes"][0]["old"] is None  # an added component


def twelve(repo: GitRepo, bad_at: int) -> list[str]:
    seed(repo)
    return [
        release(repo, {"parameters.step": i}, prompt=BAD_PROMPT if i == bad_at else None) for i in range(12)
    ]


def test_skips_are_stepped_around(repo: GitRepo, check: list[str]) -> None:
    versions = twelve(repo, bad_at=7)
    skip = ",".join(versions[i] for i in (2, 5, 9))
    result = bisect(repo, versions[0], versions[-1], [*check, "prompt", skip])
    assert result.code == 0, result.err
    report = result.json()
    assert report["first_bad"] == f"support-bot@v{versions[7]}"
    assert report["last_good"] == f"support-bot@v{versions[6]}"
    assert report["skipped"] == [f"support-bot@v{versions[5]}"]  # the middle; its neighbour went next
    assert report["runs"] == 2 + 3 + 1


def test_skips_at_the_boundary_leave_an_ambiguous_range(repo: GitRepo, check: list[str]) -> None:
    versions = twelve(repo, bad_at=7)
    skip = ",".join(versions[i] for i in (6, 7))
    result = bisect(repo, versions[0], versions[-1], [*check, "prompt", skip])
    assert result.code == 1, result.err
    report = result.json()
    assert report["first_bad"] is None
    assert report["last_good"] == f"support-bot@v{versions[5]}"
    assert report["candidates"] == [f"support-bot@v{versions[i]}" for i in (6, 7, 8)]
    text = repo.modelver("bisect", "--good", versions[0], "--bad", versions[-1], "--", *check, "prompt", skip)
    assert text.code == 1
    assert f"could be any of: support-bot@v{versions[6]}, support-bot@v{versions[7]}" in text.out
    assert_cleaned_up(repo)


def test_a_command_that_does_not_exist_is_a_usage_error_before_bisecting(repo: GitRepo) -> None:
    seed(repo)
    good, bad = release(repo), release(repo, {"parameters.top_p": 0.5})
    result = repo.modelver("bisect", "--good", good, "--bad", bad, "--", "no-such-harness", "--flag")
    assert result.code == 2
    assert "no-such-harness: command not found" in result.err
    assert not (repo.path / ".git" / "modelver" / "bisect" / "log.jsonl").exists()  # nothing ran
    # A path that does not exist in the probe: also not "bad", and caught on the first run.
    result = repo.modelver("bisect", "--good", good, "--bad", bad, "--", "./evals/missing.sh")
    assert result.code == 2
    assert "cannot start" in result.err
    assert_cleaned_up(repo)


def test_the_ends_are_checked_first(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    repo.write("evals/check.py", CHECK)  # a harness that lives in the repository, run from the probe
    repo.commit_all("harness")
    good = release(repo)
    bad = release(repo, {"parameters.top_p": 0.5}, prompt=BAD_PROMPT)
    later = release(repo, {"parameters.top_p": 0.4}, prompt=PROMPT)
    in_repo = [sys.executable, "evals/check.py", "prompt"]
    not_good = bisect(repo, bad, later, in_repo)
    assert not_good.code == 2
    assert f"--good support-bot@v{bad} is not good: the command exited 1" in not_good.err
    not_bad = bisect(repo, good, later, in_repo)
    assert not_bad.code == 2
    assert f"--bad support-bot@v{later} is not bad: the command exited 0" in not_bad.err
    reversed_ = bisect(repo, bad, good, in_repo)
    assert reversed_.code == 2 and "is not older than" in reversed_.err
    assert bisect(repo, good, bad, in_repo).json()["first_bad"] == f"support-bot@v{bad}"
    assert_cleaned_up(repo)


def test_exit_128_or_more_aborts_and_the_log_survives(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    versions = [release(repo, {"parameters.step": i}) for i in range(9)]
    result = bisect(repo, versions[0], versions[-1], [*check, "abort"])
    assert result.code == 1
    assert f"bisect aborted: `{check[0]}" in result.err and "exited 130 on support-bot@v" in result.err
    lines = log_lines(repo)
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "error"
    assert [line["verdict"] for line in lines if line["event"] == "step"][:2] == ["good", "bad"]
    assert_cleaned_up(repo)


def test_the_cli_takes_the_command_after_a_double_dash(repo: GitRepo, check: list[str]) -> None:
    seed(repo)
    good = release(repo)
    bad = release(repo, prompt=BAD_PROMPT)
    proc = repo.modelver_proc(
        "bisect", "--good", f"v{good}", "--bad", f"support-bot@v{bad}", "--", *check, "prompt"
    )
    assert proc.code == 0, proc.err
    assert f"first bad version: support-bot@v{bad} (last good: support-bot@v{good})" in proc.out
    assert "runs: 2 (2 end checks, 0 versions)" in proc.out


WEIGHTS_CHECK = """\
import os, pathlib, sys
wt = pathlib.Path(os.environ["MODELVER_WORKTREE"])
adapter = wt / "models" / "adapter.safetensors"
index = wt / "indexes" / "faq"
names = sorted(p.name for p in index.iterdir()) if index.is_dir() else None
print("adapter", adapter.is_file(), "index", names)
sys.exit(1 if (index / "c.txt").is_file() else 0)
"""


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory: pytest.TempPathFactory, ssh_key: SigningKey) -> DvcProject:
    with isolated(tmp_path_factory.mktemp("home")):
        return build(tmp_path_factory.mktemp("dvc-project"), ssh_key)


def test_weights_come_from_dvc_for_versions_and_hybrids(dvc_project: DvcProject, tmp_path: Path) -> None:
    project = dvc_project.copy(tmp_path)
    repo = project.repo
    script = tmp_path / "weights_check.py"
    script.write_text(WEIGHTS_CHECK)
    result = bisect(repo, "1.0.0", "1.2.1", [sys.executable, str(script)], "--components")
    assert result.code == 0, result.err
    report = result.json()
    assert report["first_bad"] == "support-bot@v1.2.0"
    # 1.2.0 changed the prompt and the DVC-tracked index: the hybrid with only the index is the bad one.
    assert sorted(report["components"]["units"]) == ["prompts.system", "retrieval.index"]
    assert report["culprits"] == ["retrieval.index"]
    outputs = [line["output"] for line in log_lines(repo) if line["event"] == "step"]
    assert all(o.startswith("adapter True") for o in outputs)
    assert any("'c.txt'" in o for o in outputs)
    assert_cleaned_up(repo)

    # Without weights nothing is checked out, so this harness cannot see the regression at all.
    blind = bisect(repo, "1.0.0", "1.2.1", [sys.executable, str(script)], "--no-weights")
    assert blind.code == 2
    assert "--bad support-bot@v1.2.1 is not bad" in blind.err
    assert all("adapter False" in line["output"] for line in log_lines(repo) if line["event"] == "step")
