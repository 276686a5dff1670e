"""The statistical oracle: is a version like the good end or like the bad end? Pure.

It is given "run this version once more" callables and decides sequentially:

* **The ends first.** Runs alternate between the good and the bad end; after each pair, the bad end's
  runs are compared with the good end's. Shown worse at the level below: a regression to bisect.
  Shown better, or neither after the per-version budget: no significant regression, and no bisect.
* **A version in between** gets one run at a time (the ends are topped up so that neither has fewer
  runs than it), and after each run two one-sided tests ask: is it worse than the good end? Is it
  better than the bad end? Worse than good: **bad** (also when it is better than bad too: a version
  between the two is already a regression). Better than bad only: **good**. Neither within its
  budget: **undecided**, with its evidence; a bisect steps around it as around a skip.

Error rates: the confidence ``C`` is for the whole answer. Its error ``1 - C`` is split evenly
(Bonferroni) over the planned decisions (the ends and ⌈log2(N-1)⌉ versions), and each decision's
share over the looks it may take (one after each run, from the second to the last of its budget), so
every look tests at ``(1 - C) / decisions / (per_version - 1)``. A version like the good end is then
called bad with probability at most its share, whatever the number of looks, and the same for one
like the bad end; so when every version is like one of the ends, the first bad version is wrong with
probability at most ``1 - C`` (plus one share per extra decision a skip or an undecided version
brings).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitmodelver.bisect.evidence import Comparison, Observation, compare

GOOD, BAD, UNDECIDED = "good", "bad", "undecided"
SPENT = "the total budget is spent"


class Untestable(Exception):
    """A run said this state cannot be tested (the command exited 125)."""


Sample = Callable[[], Observation]


@dataclass(frozen=True)
class Plan:
    """The confidence of the whole answer and the budgets of runs, per version and in total."""

    confidence: float = 0.95
    per_version: int = 24
    total: int = 1000
    decisions: int = 1  # planned decisions the error is split over
    lower_is_better: bool = False
    min_runs: int = 2  # runs of a state before its first look

    @property
    def looks(self) -> int:
        return max(1, self.per_version - self.min_runs + 1)

    @property
    def per_decision(self) -> float:
        return (1 - self.confidence) / self.decisions

    @property
    def alpha(self) -> float:
        """The level every look tests at."""
        return self.per_decision / self.looks


def planned_decisions(versions: int) -> int:
    """The ends, plus the versions a bisect over ``versions`` probes without skips."""
    between = versions - 1
    return 1 + (math.ceil(math.log2(between)) if between > 1 else 0)


def default_total(versions: int, per_version: int) -> int:
    """Twice what a bisect whose every decision spends its whole budget takes (ends topped up)."""
    return 2 * per_version * (planned_decisions(versions) + 1)


@dataclass
class Decision:
    """One state judged against the ends, with the evidence that decided it."""

    subject: str
    kind: str
    verdict: str
    runs: int
    reason: str
    vs_good: Comparison | None = None
    vs_bad: Comparison | None = None
    p_worse: float = 1.0  # one-sided p-value of "worse than the good end"
    p_better: float = 1.0  # of "better than the bad end" (for the ends check: "better than good")

    def as_json(self, plan: Plan) -> dict[str, Any]:
        compared = self.vs_good or self.vs_bad
        out: dict[str, Any] = {
            "version": self.subject,
            "kind": self.kind,
            "decision": self.verdict,
            "runs": self.runs,
            "mean": None if compared is None else round(compared.b.mean, 6),
            "reason": self.reason,
            "p_worse_than_good": round(self.p_worse, 8),
            "p_better_than_bad": round(self.p_better, 8),
            "alpha": plan.alpha,
        }
        out["vs_good"] = None if self.vs_good is None else self.vs_good.as_json(plan.confidence)
        out["vs_bad"] = None if self.vs_bad is None else self.vs_bad.as_json(plan.confidence)
        return out


@dataclass
class Oracle:
    """Pools of observations per state, the ends' among them, and every decision taken."""

    plan: Plan
    good_end: str
    bad_end: str
    sample_good: Sample
    sample_bad: Sample
    pools: dict[str, list[Observation]] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    spent: int = 0

    def __post_init__(self) -> None:
        self.good = self.pools.setdefault(self.good_end, [])
        self.bad = self.pools.setdefault(self.bad_end, [])

    def left(self) -> int:
        return self.plan.total - self.spent

    def _draw(self, pool: list[Observation], sample: Sample) -> None:
        pool.append(sample())
        self.spent += 1

    def _worse(self, c: Comparison) -> float:
        """p-value of "c's b is worse than its a", in the metric's direction."""
        return c.p_higher() if self.plan.lower_is_better else c.p_lower()

    def _better(self, c: Comparison) -> float:
        return c.p_lower() if self.plan.lower_is_better else c.p_higher()

    def check_ends(self) -> Decision:
        """Is the bad end worse than the good end at the plan's level? BAD when it is."""
        cap = self.plan.per_version
        while True:
            if len(self.bad) >= cap and len(self.good) >= cap:
                return self._ends(UNDECIDED, f"not shown worse within {cap} runs of each end")
            if self.left() < 2:
                return self._ends(UNDECIDED, f"the budget of {self.plan.total} runs is spent")
            if len(self.good) < cap:
                self._draw(self.good, self.sample_good)
            if len(self.bad) < cap:
                self._draw(self.bad, self.sample_bad)
            c = compare(self.good, self.bad)
            if c is None or min(len(self.good), len(self.bad)) < self.plan.min_runs:
                continue
            if self._worse(c) < self.plan.alpha:
                return self._ends(BAD, "the bad end is worse than the good end", c)
            if self._better(c) < self.plan.alpha:
                return self._ends(GOOD, "the bad end is better than the good end", c)

    def _ends(self, verdict: str, reason: str, c: Comparison | None = None) -> Decision:
        c = c or compare(self.good, self.bad)
        worse = 1.0 if c is None else self._worse(c)
        better = 1.0 if c is None else self._better(c)
        runs = len(self.good) + len(self.bad)
        decision = Decision(self.bad_end, "ends", verdict, runs, reason, c, None, worse, better)
        self.decisions.append(decision)
        return decision

    def decide(self, subject: str, kind: str, sample: Sample) -> Decision:
        """Run ``subject`` until it is shown worse than good or better than bad, or its budget ends."""
        pool = self.pools.setdefault(subject, [])
        while True:
            if len(pool) >= self.plan.per_version:
                return self._record(subject, kind, pool, UNDECIDED, "neither shown within its budget")
            if self.left() < 1:
                return self._record(subject, kind, pool, UNDECIDED, SPENT)
            try:
                self._draw(pool, sample)
            except Untestable:
                return self._record(subject, kind, pool, UNDECIDED, "cannot be tested (exit 125)")
            self._top_up(len(pool))
            decision = self._look(subject, kind, pool)
            if decision is not None:
                return decision

    def _top_up(self, runs: int) -> None:
        """Keep each end at least as sampled as the version compared with it: its mean is shared."""
        for pool, sample in ((self.good, self.sample_good), (self.bad, self.sample_bad)):
            while len(pool) < min(runs, self.plan.per_version) and self.left() > 0:
                self._draw(pool, sample)

    def _look(self, subject: str, kind: str, pool: list[Observation]) -> Decision | None:
        vs_good, vs_bad = compare(self.good, pool), compare(self.bad, pool)
        if vs_good is None or vs_bad is None or len(pool) < self.plan.min_runs:
            return None
        worse, better = self._worse(vs_good) < self.plan.alpha, self._better(vs_bad) < self.plan.alpha
        if worse:
            reason = "worse than the good end" + (", better than the bad end" if better else "")
            return self._record(subject, kind, pool, BAD, reason, vs_good, vs_bad)
        if better:
            return self._record(subject, kind, pool, GOOD, "better than the bad end", vs_good, vs_bad)
        return None

    def _record(
        self,
        subject: str,
        kind: str,
        pool: list[Observation],
        verdict: str,
        reason: str,
        vs_good: Comparison | None = None,
        vs_bad: Comparison | None = None,
    ) -> Decision:
        vs_good = vs_good or compare(self.good, pool)
        vs_bad = vs_bad or compare(self.bad, pool)
        worse = 1.0 if vs_good is None else self._worse(vs_good)
        better = 1.0 if vs_bad is None else self._better(vs_bad)
        decision = Decision(subject, kind, verdict, len(pool), reason, vs_good, vs_bad, worse, better)
        self.decisions.append(decision)
        return decision

    def effect(self) -> Comparison | None:
        """The regression's size: every run of the versions judged bad against those judged good.

        The ends count on their side. The last good and the first bad version alone would overstate
        it: a version's runs stop as soon as they are extreme enough to decide, and these two are
        few; pooled over all versions, with the ends topped up, that bias mostly washes out.
        """
        sides: dict[str, list[Observation]] = {GOOD: list(self.good), BAD: list(self.bad)}
        for d in self.decisions:
            if d.kind == "version" and d.verdict in sides:
                sides[d.verdict] += self.pools[d.subject]
        return compare(sides[GOOD], sides[BAD])
