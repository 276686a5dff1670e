"""`bisect --metric` on a noisy evaluation: runs spent against ⌈log2 N⌉ × runs per decision, as N grows.

    python bench/bench_bisect_noisy.py [--sizes 64,256,1024] [--seeds 50] [--cli 64]

The evaluation is simulated: 200 prompts a run, each passed with p = 0.80 before the culprit version
and 0.74 from it on (a 6-point regression, about twice one run's standard error). For each N, SEEDS
bisects with the culprit at a random version run in-process through the statistical oracle and the
binary search the CLI uses, seeded as the CLI seeds its runs. Baseline, measured in the same run:
⌈log2 N⌉ decisions × the median runs one decision took; the ratio shows what the end checks and the
end top-ups add. Also shown: how often the same harness read by exit code (one run, pass at a score
of 0.77) finds the right version. ``--cli N`` also runs the real command once on a history of N
releases (pygit2-built, as bench_bisect.py builds them), with the harness as a script.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import MODELVER
from bench_bisect import BAD, build

from gitmodelver.bisect import oracle, search
from gitmodelver.bisect.evidence import Observation
from gitmodelver.bisect.measured import VERDICTS, run_seed

ITEMS, P_GOOD, P_BAD, THRESHOLD = 200, 0.80, 0.74, 0.77

HARNESS = f"""\
import json, os, pathlib, random
wt = pathlib.Path(os.environ["MODELVER_WORKTREE"])
p = {P_BAD} if "{BAD}" in (wt / "prompts" / "p0.txt").read_text() else {P_GOOD}
rng = random.Random(int(os.environ["MODELVER_SEED"]))
print(json.dumps({{"accuracy": [1 if rng.random() < p else 0 for _ in range({ITEMS})]}}))
"""


def outcomes(p: float, seed: int) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(1.0 if rng.random() < p else 0.0 for _ in range(ITEMS))


def sampler(seed: int, subject: str, p: float) -> oracle.Sample:
    repeat = 0

    def sample() -> Observation:
        nonlocal repeat
        repeat += 1
        items = outcomes(p, run_seed(seed, subject, repeat))
        return Observation(sum(items) / ITEMS, items)

    return sample


def one(n: int, seed: int) -> tuple[bool, int, list[int]]:
    """(found, runs spent, runs of each decision between the ends) for one seeded bisect."""
    culprit = random.Random(seed).randrange(1, n)
    p: Callable[[int], float] = lambda i: P_BAD if i >= culprit else P_GOOD  # noqa: E731
    per_version = oracle.Plan.per_version
    plan = oracle.Plan(
        per_version=per_version,
        total=oracle.default_total(n, per_version),
        decisions=oracle.planned_decisions(n),
    )
    last = f"v{n - 1}"
    judged = oracle.Oracle(plan, "v0", last, sampler(seed, "v0", p(0)), sampler(seed, last, p(n - 1)))
    if judged.check_ends().verdict != oracle.BAD:
        return False, judged.spent, []

    def judge(i: int) -> search.Verdict:
        decision = judged.decide(f"v{i}", "version", sampler(seed, f"v{i}", p(i)))
        return VERDICTS.get(decision.verdict, search.Verdict.SKIP)

    outcome = search.search(n, judge)
    found = not outcome.ambiguous and outcome.first_bad == culprit
    return found, judged.spent, [d.runs for d in judged.decisions if d.kind == "version"]


def by_threshold(n: int, seed: int) -> bool:
    culprit = random.Random(seed).randrange(1, n)

    def verdict(i: int) -> search.Verdict:
        items = outcomes(P_BAD if i >= culprit else P_GOOD, run_seed(seed, f"v{i}", 1))
        return search.Verdict.GOOD if sum(items) / ITEMS >= THRESHOLD else search.Verdict.BAD

    if verdict(0) is not search.Verdict.GOOD or verdict(n - 1) is not search.Verdict.BAD:
        return False
    return search.search(n, verdict).first_bad == culprit


def cli(n: int, seed: int) -> None:
    bad_at = random.Random(seed).randrange(1, n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        build(path, n, bad_at)
        script = Path(tmp) / "harness.py"
        script.write_text(HARNESS)
        first, last = (f"{1 + i // 100}.{i % 100}.0" for i in (0, n - 1))
        argv = [*MODELVER, "-C", str(path), "bisect", "--good", first, "--bad", last, "--json"]
        argv += ["--metric", "accuracy", "--seed", str(seed), "--", sys.executable, str(script)]
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    report = json.loads(proc.stdout)
    inside = sum(float(s["seconds"]) for s in report["steps"])
    found = report["first_bad"] == f"bench@v{1 + bad_at // 100}.{bad_at % 100}.0"
    print(
        f"cli N={n}: found {found}, {report['runs']} runs in {wall:.1f}s; "
        f"overhead {(wall - inside) / report['runs'] * 1000:.0f} ms per run beside the harness"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,256,1024")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--cli", type=int, default=0, metavar="N", help="also run the CLI over N versions")
    args = parser.parse_args()
    print(
        f"{'N':>5} {'found':>6} {'runs (median)':>14} {'p90':>5} {'per decision':>13} "
        f"{'log2 N x per decision':>22} {'ratio':>6} {'exit code found':>16}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        results = [one(n, s) for s in range(args.seeds)]
        runs = sorted(r[1] for r in results)
        per_decision = statistics.median(x for r in results for x in r[2])
        baseline = math.ceil(math.log2(n)) * per_decision
        found = sum(r[0] for r in results)
        threshold = sum(by_threshold(n, s) for s in range(args.seeds))
        median = statistics.median(runs)
        print(
            f"{n:>5} {found:>3}/{args.seeds:<2} {median:>14.1f} {runs[int(0.9 * len(runs))]:>5} "
            f"{per_decision:>13.1f} {baseline:>22.1f} {median / baseline:>5.2f}x {threshold:>9}/{args.seeds}"
        )
    print("per decision = median runs of one version between the ends (top-ups of the ends not counted)")
    if args.cli:
        cli(args.cli, 1)


if __name__ == "__main__":
    main()
