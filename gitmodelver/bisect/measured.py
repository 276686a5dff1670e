"""Judging versions by a noisy metric (``bisect --metric NAME``): the statistical oracle, fed by runs
of the command in the session's worktree.

Every run gets ``MODELVER_SEED`` (derived from the bisect's seed, the state and the repetition, so one
run can be replayed by hand) and ``MODELVER_REPEAT`` (1 for a state's first run); a command that seeds
its sampling from them makes the whole bisect repeatable under ``--seed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitmodelver import output
from gitmodelver.bisect import ddmin, hybrid, oracle, search
from gitmodelver.bisect.evidence import Comparison, Observation
from gitmodelver.bisect.session import Session
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.system import Snapshot
from gitmodelver.gitstore.versions import Release

VERDICTS = {oracle.GOOD: search.Verdict.GOOD, oracle.BAD: search.Verdict.BAD}
RESULTS = {oracle.GOOD: ddmin.Result.PASS, oracle.BAD: ddmin.Result.FAIL}


def run_seed(seed: int, subject: str, repeat: int) -> int:
    """The seed of one run: the same state's n-th run always gets the same one."""
    data = hashlib.sha256(f"{seed}\0{subject}\0{repeat}".encode()).digest()
    return int.from_bytes(data[:4], "big")


@dataclass
class Measured:
    """A judge that repeats runs until the oracle decides, within the plan's budgets."""

    session: Session
    metric: str
    plan: oracle.Plan
    seed: int
    judged: oracle.Oracle | None = None
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # hybrid digest -> how to show it
    exhausted: bool = False  # the total budget ran out during the search

    @property
    def decider(self) -> oracle.Oracle:
        assert self.judged is not None, "the ends are checked first"
        return self.judged

    def _env(self, subject: str) -> dict[str, str]:
        repeat = len(self.decider.pools.get(subject, [])) + 1
        return {"MODELVER_SEED": str(run_seed(self.seed, subject, repeat)), "MODELVER_REPEAT": str(repeat)}

    def _observed(self, seen: Observation | None, subject: str) -> Observation:
        if seen is None:  # the command exited 125: this state cannot be tested
            raise oracle.Untestable(subject)
        return seen

    def _version(self, release: Release, kind: str) -> oracle.Sample:
        def sample() -> Observation:
            run = self.session.version(release, kind, self._env(release.tag))
            return self._observed(run.observation, release.tag)

        return sample

    def ends(self, good: Release, bad: Release) -> bool:
        self.judged = oracle.Oracle(
            self.plan, good.tag, bad.tag, self._version(good, "check-good"), self._version(bad, "check-bad")
        )
        try:
            decision = self.decider.check_ends()
        except oracle.Untestable as exc:
            flag = "--good" if str(exc) == good.tag else "--bad"
            raise UsageError(
                f"{flag} {exc} cannot be tested (the command exited 125); pass a {flag} version it can "
                f"measure (the log: {self.session.log.file})"
            ) from exc
        output.step(f"bisect: {describe(decision, self.plan)}")
        return decision.verdict == oracle.BAD

    def version(self, release: Release) -> search.Verdict:
        if self.exhausted:  # the versions left are a range: no need to list each as undecided
            return search.Verdict.SKIP
        decision = self.decider.decide(release.tag, "version", self._version(release, "version"))
        output.step(f"bisect: {release.tag} {describe(decision, self.plan)}")
        self.exhausted = decision.reason == oracle.SPENT
        return VERDICTS.get(decision.verdict, search.Verdict.SKIP)

    def hybrid(self, good: Release, bad: Snapshot, chosen: Sequence[hybrid.Unit], state: str) -> ddmin.Result:
        self.labels[state] = {"version": f"{good.tag}+hybrid", "changes": [u.path for u in chosen]}

        def sample() -> Observation:
            run = self.session.hybrid(good, bad, chosen, self._env(state))
            return self._observed(run.observation, state)

        decision = self.decider.decide(state, "hybrid", sample)
        output.step(f"isolate: {describe(decision, self.plan)}")
        return RESULTS.get(decision.verdict, ddmin.Result.UNRESOLVED)

    def skipped(self) -> list[str]:
        return [
            d.subject for d in self.decider.decisions if d.kind == "version" and d.verdict == oracle.UNDECIDED
        ]

    def report(self, result: dict[str, Any], last_good: Release | None, first_bad: Release | None) -> None:
        plan, judged = self.plan, self.decider
        ends = judged.decisions[0]
        made = sum(1 for d in judged.decisions if d.kind != "hybrid")
        result["metric"] = {
            "name": self.metric,
            "higher_is_better": not plan.lower_is_better,
            "confidence": plan.confidence,
            "seed": self.seed,
            "runs_per_version": plan.per_version,
            "max_runs": plan.total,
            "planned_decisions": plan.decisions,
            "alpha": plan.alpha,
            "error_bound": round(min(1.0, made * plan.per_decision), 6),
        }
        result["regression"] = ends.verdict == oracle.BAD
        result["undecided"] = [
            self.labels.get(d.subject, {}).get("version", d.subject)
            for d in judged.decisions
            if d.verdict == oracle.UNDECIDED and d.kind != "ends"
        ]
        result["effect"] = None
        if last_good is not None and first_bad is not None:
            found = judged.effect()
            result["effect"] = None if found is None else effect_json(found, last_good, first_bad, plan)
        result["decisions"] = [self._decision_json(d) for d in judged.decisions]

    def _decision_json(self, decision: oracle.Decision) -> dict[str, Any]:
        out = decision.as_json(self.plan)
        if decision.subject in self.labels:
            out.update(self.labels[decision.subject], digest=decision.subject)
        return out


def effect_json(
    found: Comparison, last_good: Release, first_bad: Release, plan: oracle.Plan
) -> dict[str, Any]:
    return {
        "from": last_good.tag,
        "to": first_bad.tag,
        "good_mean": round(found.a.mean, 6),
        "bad_mean": round(found.b.mean, 6),
        "runs": [found.a.runs, found.b.runs],
        **found.as_json(plan.confidence),
    }


def _p(value: float) -> str:
    return f"{value:.2g}"


def describe(decision: oracle.Decision, plan: oracle.Plan) -> str:
    """One line of evidence: the verdict, the runs, the mean, and the p-values against the ends."""
    compared = decision.vs_good or decision.vs_bad
    mean = "" if compared is None else f", mean {compared.b.mean:.4g}"
    runs = f"{decision.runs} run" + ("" if decision.runs == 1 else "s")
    if decision.kind == "ends":
        head = {
            oracle.BAD: "the bad end is worse than the good end",
            oracle.GOOD: "the bad end is better than the good end",
        }.get(decision.verdict, "the bad end is not shown worse than the good end")
        if compared is None:
            return f"{head} ({runs})"
        low, high = compared.interval(plan.confidence)
        return (
            f"{head} ({runs}; {compared.a.mean:.4g} -> {compared.b.mean:.4g}, effect {compared.effect:+.4g}, "
            f"{plan.confidence:.0%} CI {low:+.4g} to {high:+.4g}; p={_p(decision.p_worse)})"
        )
    return (
        f"{decision.verdict} after {runs}{mean} (worse than good: p={_p(decision.p_worse)}, better than "
        f"bad: p={_p(decision.p_better)}; decides below {_p(plan.alpha)})"
    )
