"""`bisect --metric`: the regression found when the quality score is a sample, not a verdict.

The statistics run in-process against the simulated harness (``noisy_harness``: 200 prompts a run,
p = 0.80 before the culprit version, 0.74 from it on), 100 seeded bisects at a time; then the real CLI
runs the same harness as a script on real repositories with real version tags.
"""

from __future__ import annotations

import collections
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import GitRepo, Result, seed
from noisy_harness import ITEMS, P_BAD, P_GOOD, THRESHOLD, outcomes
from test_bisect import BAD_PROMPT, assert_cleaned_up, log_lines, release

from gitmodelver.bisect import ddmin, evidence, oracle, probe, search
from gitmodelver.bisect.evidence import Observation
from gitmodelver.bisect.measured import RESULTS, VERDICTS, run_seed

HARNESS = Path(__file__).resolve().parent / "noisy_harness.py"
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "bisect.schema.json").read_text())
VERSIONS = 64

# ------------------------------------------------------------------------------ the simulated harness


def sampler(seed: int, subject: str, p: float, scores: bool = False) -> oracle.Sample:
    """Runs of one state, seeded as the CLI seeds them (``MODELVER_SEED`` per state and repeat)."""
    repeat = 0

    def sample() -> Observation:
        nonlocal repeat
        repeat += 1
        items = outcomes(p, run_seed(seed, subject, repeat))
        score = sum(items) / len(items)
        return Observation(score) if scores else Observation(score, tuple(float(i) for i in items))

    return sample


def culprit_of(seed: int, n: int = VERSIONS) -> int:
    return random.Random(seed).randrange(1, n)


def quality(culprit: int, p_bad: float = P_BAD) -> Callable[[int], float]:
    return lambda i: p_bad if i >= culprit else P_GOOD


def plan_for(n: int, **changes: Any) -> oracle.Plan:
    per_version = changes.pop("per_version", oracle.Plan.per_version)
    return oracle.Plan(
        per_version=per_version,
        total=changes.pop("total", oracle.default_total(n, per_version)),
        decisions=oracle.planned_decisions(n),
        **changes,
    )


def statistical_bisect(
    seed: int, n: int = VERSIONS, p_bad: float = P_BAD, scores: bool = False
) -> tuple[search.Outcome | None, oracle.Oracle]:
    """One bisect by the oracle; None when the ends show no regression."""
    p = quality(culprit_of(seed, n), p_bad)
    judged = oracle.Oracle(
        plan_for(n),
        "v0",
        f"v{n - 1}",
        sampler(seed, "v0", p(0), scores),
        sampler(seed, f"v{n - 1}", p(n - 1), scores),
    )
    if judged.check_ends().verdict != oracle.BAD:
        return None, judged

    def judge(i: int) -> search.Verdict:
        decision = judged.decide(f"v{i}", "version", sampler(seed, f"v{i}", p(i), scores))
        return VERDICTS.get(decision.verdict, search.Verdict.SKIP)

    return search.search(n, judge), judged


def threshold_bisect(seed: int, n: int = VERSIONS) -> bool:
    """The same harness read by exit code: one run per version, exit 0 when its score >= THRESHOLD."""
    p = quality(culprit_of(seed, n))

    def verdict(i: int) -> search.Verdict | None:
        items = outcomes(p(i), run_seed(seed, f"v{i}", 1))
        return probe.verdict_of(0 if sum(items) / len(items) >= THRESHOLD else 1)

    if verdict(0) is not search.Verdict.GOOD or verdict(n - 1) is not search.Verdict.BAD:
        return False  # the ends check stops it, as it would stop `git modelver bisect`
    outcome = search.search(n, lambda i: verdict(i) or search.Verdict.SKIP)
    return not outcome.ambiguous and outcome.first_bad == culprit_of(seed, n)


def found(seed: int, n: int = VERSIONS, scores: bool = False) -> tuple[bool, int, bool]:
    """(the right version, runs spent, the effect's 95% interval holds the true -0.06)."""
    outcome, judged = statistical_bisect(seed, n, scores=scores)
    right = outcome is not None and not outcome.ambiguous and outcome.first_bad == culprit_of(seed, n)
    effect = judged.effect()
    covered = effect is not None and effect.interval(0.95)[0] <= P_BAD - P_GOOD <= effect.interval(0.95)[1]
    return right, judged.spent, covered


def test_the_culprit_among_64_versions_is_found_in_95_of_100_seeded_bisects() -> None:
    results = [found(s) for s in range(100)]
    successes = sum(ok for ok, _, _ in results)
    runs = [spent for _, spent, _ in results]
    covered = sum(c for _, _, c in results)
    by_threshold = sum(threshold_bisect(s) for s in range(100))
    bound = math.ceil(math.log2(VERSIONS))
    print(
        f"\nstatistical bisect: {successes}/100 found, median {statistics.median(runs)} runs "
        f"(max {max(runs)}, ceil(log2 N) = {bound}); effect's 95% CI holds the truth {covered}/100; "
        f"exit code at {THRESHOLD}: {by_threshold}/100 found"
    )
    assert successes >= 95, (successes, statistics.median(runs))
    assert by_threshold <= 50 and successes - by_threshold >= 40, (successes, by_threshold)
    assert statistics.median(runs) <= 12 * (bound + 2)  # a handful of runs per decision, not the budget
    assert covered >= 88


def test_scores_only_are_compared_with_welch_and_still_find_it() -> None:
    results = [found(s, scores=True) for s in range(40)]
    assert sum(ok for ok, _, _ in results) >= 37
    outcome, judged = statistical_bisect(1, scores=True)
    assert outcome is not None
    assert {d.vs_good.test for d in judged.decisions if d.vs_good} == {evidence.WELCH_RUNS}


def test_no_real_difference_between_the_ends_is_no_regression_not_a_guess() -> None:
    stopped = []
    for s in range(100):
        outcome, judged = statistical_bisect(s, p_bad=P_GOOD)
        stopped.append(outcome is None)
        ends = judged.decisions[0]
        assert ends.kind == "ends" and len(judged.decisions) == 1  # nothing probed in between
    assert sum(stopped) >= 98  # a false regression at the ends is held to its share of 1 - C
    assert judged.decisions[0].verdict == oracle.UNDECIDED
    assert judged.spent == 2 * judged.plan.per_version
    assert judged.decisions[0].reason == "not shown worse within 24 runs of each end"


def test_the_same_seed_gives_the_same_decisions() -> None:
    def trace(seed: int) -> list[tuple[str, str, int]]:
        _, judged = statistical_bisect(seed)
        return [(d.subject, d.verdict, d.runs) for d in judged.decisions]

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)


# ------------------------------------------------------------------------------------ the decision rule


def fixed(values: list[float]) -> oracle.Sample:
    """Runs whose scores come from a list, in order (a deterministic harness)."""
    it = iter(values)
    return lambda: Observation(next(it))


def spread(mean: float, n: int = 40) -> list[float]:
    return [mean + (0.01 if i % 2 else -0.01) * (1 + i % 3) for i in range(n)]


def small_oracle(good: float, bad: float, **plan: Any) -> oracle.Oracle:
    judged = oracle.Oracle(
        oracle.Plan(**{"per_version": 8, **plan}), "g", "b", fixed(spread(good)), fixed(spread(bad))
    )
    assert judged.check_ends().verdict == oracle.BAD
    return judged


@pytest.mark.parametrize(
    ("mean", "verdict", "reason"),
    [
        (0.80, oracle.GOOD, "better than the bad end"),
        (0.70, oracle.BAD, "worse than the good end"),
        (0.75, oracle.BAD, "worse than the good end, better than the bad end"),  # between: a regression
    ],
)
def test_a_version_is_judged_against_both_ends(mean: float, verdict: str, reason: str) -> None:
    judged = small_oracle(0.80, 0.70)
    decision = judged.decide("m", "version", fixed(spread(mean)))
    assert (decision.verdict, decision.reason) == (verdict, reason)
    assert decision.runs >= evidence.MIN_SCORES
    assert decision.vs_good is not None and decision.vs_good.test == evidence.WELCH_RUNS


def test_lower_is_better() -> None:
    judged = small_oracle(0.20, 0.30, lower_is_better=True)
    assert judged.decide("m", "version", fixed(spread(0.29))).verdict == oracle.BAD
    assert judged.decide("n", "version", fixed(spread(0.21))).verdict == oracle.GOOD


def test_budgets_leave_a_version_undecided_with_its_evidence() -> None:
    judged = small_oracle(0.80, 0.70)
    noisy = [0.75 + (0.2 if i % 2 else -0.2) for i in range(40)]  # too spread to tell from either end
    decision = judged.decide("m", "version", fixed(noisy))
    assert decision.verdict == oracle.UNDECIDED and decision.runs == 8
    assert decision.reason == "neither shown within its budget"
    assert decision.vs_good is not None and decision.p_worse > judged.plan.alpha

    spent = oracle.Oracle(oracle.Plan(per_version=8, total=7), "g", "b", fixed(noisy), fixed(noisy))
    assert spent.check_ends().reason == "the budget of 7 runs is spent"
    assert spent.spent == 6

    def untestable() -> Observation:
        raise oracle.Untestable("m")

    skipped = small_oracle(0.80, 0.70).decide("m", "version", untestable)
    assert (skipped.verdict, skipped.reason) == (oracle.UNDECIDED, "cannot be tested (exit 125)")


def test_undecided_versions_are_stepped_around_like_skips() -> None:
    culprit, n = 6, 12
    judged = oracle.Oracle(plan_for(n), "v0", "v11", sampler(1, "v0", P_GOOD), sampler(1, "v11", P_BAD))
    assert judged.check_ends().verdict == oracle.BAD

    def judge(i: int) -> search.Verdict:
        if i == 5:  # a version that never tells: alternating extremes
            return VERDICTS.get(
                judged.decide("v5", "version", fixed([0.0, 1.0] * 20)).verdict, search.Verdict.SKIP
            )
        p = quality(culprit)(i)
        return VERDICTS.get(
            judged.decide(f"v{i}", "version", sampler(1, f"v{i}", p)).verdict, search.Verdict.SKIP
        )

    outcome = search.search(n, judge)
    assert outcome.candidates == [5, 6]  # the undecided version may be the first bad one: a range
    assert [d.subject for d in judged.decisions if d.verdict == oracle.UNDECIDED] == ["v5"]


def test_ddmin_with_the_oracle_finds_an_interaction_of_two_changes() -> None:
    """Five changes; only 1 and 3 together lower the pass rate. Hybrids judged statistically."""
    hits = 0
    for s in range(20):
        judged = oracle.Oracle(
            plan_for(8), "good", "bad", sampler(s, "good", P_GOOD), sampler(s, "bad", P_BAD)
        )
        assert judged.check_ends().verdict == oracle.BAD

        def test(subset: ddmin.Subset, judged: oracle.Oracle = judged, s: int = s) -> ddmin.Result:
            p = P_BAD if {1, 3} <= set(subset) else P_GOOD
            key = ",".join(map(str, subset))
            return RESULTS.get(
                judged.decide(key, "hybrid", sampler(s, key, p)).verdict, ddmin.Result.UNRESOLVED
            )

        known = {(): ddmin.Result.PASS, (0, 1, 2, 3, 4): ddmin.Result.FAIL}
        hits += ddmin.ddmin(5, test, known=dict(known)).culprits == (1, 3)
    assert hits >= 19


# ------------------------------------------------------------------------------------------ evidence


@pytest.mark.parametrize(
    ("text", "value", "items"),
    [
        ('{"accuracy": 0.81}', 0.81, 0),
        ('{"accuracy": [1, 0, 1, 1]}', 0.75, 4),
        ('{"accuracy": {"value": 0.9, "items": [1, 0]}}', 0.9, 2),
        ('{"accuracy": {"items": [1, 1, 1, 0]}}', 0.75, 4),
        ('{"subject": "sha256:…", "metrics": {"accuracy": 0.5, "f1": 0.4}}', 0.5, 0),
        ('progress 10%\n{"accuracy": 0.1}\nnot json {\n{"accuracy": 0.2}\n{"other": 1}\ndone', 0.2, 0),
    ],
)
def test_a_run_reports_its_metric_in_a_json_line(text: str, value: float, items: int) -> None:
    seen = evidence.read(text, "accuracy")
    assert (seen.value, len(seen.items)) == (value, items)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accuracy: 0.81\n", 'printed no JSON line with "accuracy"'),
        ('{"loss": 0.2, "n": 200}\n[1, 2]\n', 'printed JSON lines without "accuracy" (keys: loss, n)'),
        ('{"accuracy": "high"}', '"accuracy" is "high", not a finite number'),
        ('{"accuracy": NaN}', '"accuracy" is NaN, not a finite number'),
        ('{"accuracy": true}', '"accuracy" is true, not a finite number'),
        ('{"accuracy": []}', '"accuracy" items must be a non-empty list of numbers'),
        ('{"accuracy": {"items": [1, "x"]}}', '"accuracy" items must be finite numbers'),
        ('{"accuracy": {"n": 3}}', '"accuracy" needs a numeric "value" or "items"'),
    ],
)
def test_an_unreadable_run_says_what_it_printed(text: str, message: str) -> None:
    with pytest.raises(evidence.Unreadable) as caught:
        evidence.read(text, "accuracy")
    assert str(caught.value) == message


def test_the_tests_agree_with_scipy() -> None:
    from scipy import stats

    a = [Observation(v) for v in (0.80, 0.82, 0.79, 0.81)]
    b = [Observation(v) for v in (0.76, 0.75, 0.78)]
    c = evidence.compare(a, b)
    assert c is not None and c.test == evidence.WELCH_RUNS
    expected = stats.ttest_ind(
        [o.value for o in b], [o.value for o in a], equal_var=False, alternative="less"
    )
    assert c.p_lower() == pytest.approx(expected.pvalue)
    assert c.effect == pytest.approx(statistics.fmean([0.76, 0.75, 0.78]) - 0.805)
    two_sided = stats.ttest_ind([o.value for o in b], [o.value for o in a], equal_var=False)
    assert c.interval(0.95) == pytest.approx(tuple(two_sided.confidence_interval(0.95)))
    assert c.interval(0.95)[1] < 0

    good = [Observation(0.8, (1.0,) * 160 + (0.0,) * 40)]
    bad = [Observation(0.74, (1.0,) * 148 + (0.0,) * 52)]
    z = evidence.compare(good, bad)
    assert z is not None and z.test == evidence.PROPORTION
    pooled = 308 / 400
    se = math.sqrt(pooled * (1 - pooled) * (2 / 200))
    assert z.p_lower() == pytest.approx(stats.norm.sf(0.06 / se))
    assert evidence.compare(a[:2], b) is None  # Welch on run scores waits for three a side


# ---------------------------------------------------------------------------------- the CLI, for real


def bisect(repo: GitRepo, good: str, bad: str, harness: list[str], *flags: str) -> Result:
    """``bisect --metric accuracy`` with the simulated harness run as a script (``harness``: its args)."""
    options = ["--good", good, "--bad", bad, "--json", "--metric", "accuracy", *flags]
    return repo.modelver("bisect", *options, "--", sys.executable, str(HARNESS), *harness)


def valid(result: Result) -> dict[str, Any]:
    """The report, checked against schemas/bisect.schema.json."""
    report: dict[str, Any] = result.json()
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    return report


def history(repo: GitRepo, n: int, culprit: int) -> list[str]:
    seed(repo)
    return [
        release(repo, {"parameters.step": i}, prompt=BAD_PROMPT if i == culprit else None) for i in range(n)
    ]


def run_harness(step: dict[str, Any], worktree: Path) -> str:
    """One logged run, replayed by hand from what the log says."""
    env = {
        **os.environ,
        "MODELVER_VERSION": step["version"],
        "MODELVER_SEED": str(step["seed"]),
        "MODELVER_REPEAT": str(step["repeat"]),
        "MODELVER_WORKTREE": str(worktree),
    }
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "prompt"], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_cli_finds_the_culprit_by_metric_and_keeps_every_run(repo: GitRepo) -> None:
    versions = history(repo, 8, culprit=5)
    result = bisect(repo, versions[0], versions[-1], ["prompt"], "--seed", "3")
    assert result.code == 0, result.err
    report = valid(result)
    tag = f"support-bot@v{versions[5]}"
    assert (report["first_bad"], report["last_good"]) == (tag, f"support-bot@v{versions[4]}")
    assert report["regression"] is True and report["undecided"] == []
    assert report["metric"]["seed"] == 3 and report["metric"]["confidence"] == 0.95
    assert report["metric"]["error_bound"] <= 0.05
    effect = report["effect"]
    assert effect["from"] == f"support-bot@v{versions[4]}" and effect["to"] == tag
    assert effect["test"] == "two-proportion"
    assert effect["ci"][0] < effect["effect"] < effect["ci"][1] < 0
    assert effect["ci"][0] < P_BAD - P_GOOD < effect["ci"][1]
    decisions = report["decisions"]
    assert decisions[0]["kind"] == "ends" and decisions[0]["decision"] == "bad"
    assert {d["version"]: d["decision"] for d in decisions[1:]}[tag] == "bad"
    assert all(d["kind"] == "version" for d in decisions[1:])
    # Every run is a step, in the log as it happened, its output kept; the seeds replay it by hand.
    steps = [line for line in log_lines(repo) if line["event"] == "step"]
    assert len(steps) == report["runs"] == len(report["steps"])
    assert {s["verdict"] for s in steps} == {"measured"}
    per_version = collections.Counter(s["version"] for s in steps)
    assert all(per_version[d["version"]] == d["runs"] for d in decisions[1:])
    ends = sum(1 for s in steps if s["kind"].startswith("check-"))
    assert ends >= decisions[0]["runs"]  # and topped up later, as the versions between needed
    assert ends + sum(d["runs"] for d in decisions[1:]) == report["runs"]
    outputs = repo.path / ".git" / "modelver" / "bisect" / "output"
    assert len(list(outputs.glob("*.txt"))) == report["runs"]
    last = steps[-1]
    kept = (outputs / f"{last['n']:04d}.txt").read_text()
    assert last["metric"]["items"] == ITEMS and f"repeat {last['repeat']}" in kept
    wt = repo.path / "replay"
    repo.git("worktree", "add", "-q", "--detach", str(wt), last["commit"])
    assert run_harness(last, wt) == kept
    repo.git("worktree", "remove", "--force", str(wt))
    assert_cleaned_up(repo)


def test_cli_no_real_difference_stops_with_no_significant_regression(repo: GitRepo) -> None:
    seed(repo)
    versions = [release(repo, {"parameters.step": i}) for i in range(4)]
    result = bisect(repo, versions[0], versions[-1], ["none"], "--runs-per-version", "6", "--seed", "1")
    assert result.code == 2
    assert "error: no significant regression: support-bot@v" in result.err
    assert "is not shown worse than" in result.err and "95% CI" in result.err
    report = valid(result)
    assert report["regression"] is False and report["first_bad"] is None and report["candidates"] == []
    assert report["runs"] == 12 and [d["kind"] for d in report["decisions"]] == ["ends"]
    assert report["decisions"][0]["decision"] == "undecided"
    assert_cleaned_up(repo)


def test_cli_a_spent_budget_leaves_a_range_not_a_guess(repo: GitRepo) -> None:
    versions = history(repo, 6, culprit=3)
    result = bisect(repo, versions[0], versions[-1], ["prompt"], "--seed", "1", "--max-runs", "10")
    assert result.code == 1, result.err
    report = valid(result)
    assert report["first_bad"] is None and report["runs"] == 10
    assert report["candidates"] == [f"support-bot@v{v}" for v in versions[3:]]
    assert report["undecided"] == report["skipped"] == [f"support-bot@v{versions[3]}"]
    assert report["decisions"][-1]["reason"] == "the total budget is spent"
    text = repo.modelver(
        "bisect", "--good", versions[0], "--bad", versions[-1], "--metric", "accuracy", "--seed", "1",
        "--max-runs", "10", "--", sys.executable, str(HARNESS), "prompt",
    )  # fmt: skip
    assert text.code == 1
    assert "(undecided or skipped versions hide the boundary; last good: support-bot@v" in text.out
    assert "note: 1 state undecided; more runs may decide: raise --runs-per-version (now 24)" in text.out


def test_cli_a_run_without_the_metric_is_a_one_line_error(repo: GitRepo) -> None:
    versions = history(repo, 4, culprit=2)
    result = bisect(repo, versions[0], versions[-1], ["prompt", "items", versions[0]])
    assert result.code == 2
    (line,) = result.err.strip().splitlines()[-1:]
    assert line.startswith(f"error: `{sys.executable} {HARNESS} prompt items {versions[0]}` on support-bot@v")
    assert 'printed no JSON line with "accuracy" (exit 1: Traceback' in line
    step = [s for s in log_lines(repo) if s["event"] == "step"][-1]
    assert step["verdict"] == "unreadable" and "Traceback" in step["output"]
    assert "Traceback" in Path(line.rsplit("its output: ", 1)[1].rstrip(")")).read_text()
    assert log_lines(repo)[-1]["event"] == "error"
    assert json.loads(result.out)["exit"] == 2

    lacking = bisect(repo, versions[0], versions[-1], ["prompt", "loss"])
    assert lacking.code == 2
    assert 'printed JSON lines without "accuracy" (keys: loss, n)' in lacking.err
    assert_cleaned_up(repo)


def test_cli_components_find_an_interaction_with_the_same_oracle(repo: GitRepo) -> None:
    seed(repo)
    good = release(repo)
    both = {"retrieval.chunk_size": 256, "parameters.top_p": 0.5}
    bad = release(repo, {**both, "parameters.temperature": 0.3})
    result = bisect(repo, good, bad, ["combo"], "--components", "--seed", "2")
    assert result.code == 0, result.err
    report = valid(result)
    assert sorted(report["culprits"]) == ["parameters.top_p", "retrieval.chunk_size"]
    hybrids = [d for d in report["decisions"] if d["kind"] == "hybrid"]
    assert hybrids and all(d["decision"] in ("good", "bad") for d in hybrids)
    singles = {tuple(d["changes"]): d["decision"] for d in hybrids if len(d["changes"]) == 1}
    assert singles.get(("parameters.top_p",)) == singles.get(("retrieval.chunk_size",)) == "good"
    steps = [s for s in report["steps"] if s["kind"] == "hybrid"]
    assert report["components"]["runs"] == len(steps) == sum(d["runs"] for d in hybrids)
    assert {s["digest"] for s in steps} == {d["digest"] for d in hybrids}


def test_cli_text_report_and_options(repo: GitRepo) -> None:
    versions = history(repo, 3, culprit=2)
    argv = ["bisect", "--good", versions[0], "--bad", versions[-1], "--metric", "accuracy", "--seed", "4"]
    text = repo.modelver(*argv, "--", sys.executable, str(HARNESS), "prompt", "score")
    assert text.code == 0, text.err
    assert (
        f"first bad version: support-bot@v{versions[2]} (last good: support-bot@v{versions[1]})" in text.out
    )
    effect = r"  accuracy 0\.\d+ -> 0\.\d+: effect -0\.\d+ \(95% CI -0\.\d+ to [-+]0\.\d+; welch-runs test, "
    assert re.search(effect + r"\d+ runs of versions judged good against \d+ judged bad\)", text.out), (
        text.out
    )
    assert "decisions by accuracy (higher is better; 95% confidence overall" in text.out
    assert "; seed 4; log: " in text.out
    # Deterministic under the seed: the same runs, in the same order, measuring the same values.
    first = [(s["version"], s["seed"], s["metric"]) for s in log_lines(repo) if s["event"] == "step"]
    again = repo.modelver(*argv, "--json", "--", sys.executable, str(HARNESS), "prompt", "score")
    assert [(s["version"], s["seed"], s["metric"]) for s in valid(again)["steps"]] == first
    # The report of a bisect by exit code keeps its keys, and the schema holds for it too.
    check = [sys.executable, "-c", "import os, sys; sys.exit('ALWAYS' in open('prompts/system.j2').read())"]
    plain = repo.modelver("bisect", "--good", versions[0], "--bad", versions[-1], "--json", "--", *check)
    assert plain.code == 0, plain.err
    assert valid(plain)["first_bad"] == f"support-bot@v{versions[2]}" and "decisions" not in plain.json()
    for bad_option, message in [
        (["--seed", "3"], "--seed only applies with --metric NAME"),
        (["--metric", "accuracy", "--confidence", "1.5"], "--confidence 1.5: give a number from 0.5"),
        (["--metric", "accuracy", "--runs-per-version", "1"], "--runs-per-version 1: a version needs"),
    ]:
        wrong = repo.modelver(
            "bisect", "--good", versions[0], "--bad", versions[-1], *bad_option, "--", "true"
        )
        assert wrong.code == 2 and message in wrong.err, wrong.err
