"""Canary analysis (SPEC §7): compare the candidate with the stable version, metric by metric.

Pure functions. The burden of proof is on failing: a metric fails only when the data show, at the
configured confidence, that the candidate regressed by more than ``max_regression``; too few samples
is ``inconclusive`` and holds the rollout; otherwise it passes. scipy supplies the distributions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class MetricRule:
    name: str
    direction: str = "higher"
    max_regression: float = 0.0
    test: str = "threshold"
    confidence: float = 0.95

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> MetricRule:
        return cls(
            name,
            str(config.get("direction", "higher")),
            float(config.get("max_regression", 0.0)),
            str(config.get("test", "threshold")),
            float(config.get("confidence", 0.95)),
        )


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    verdict: str
    reason: str
    measurements: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "verdict": self.verdict, "reason": self.reason, **self.measurements}


@dataclass(frozen=True)
class Analysis:
    verdict: str
    metrics: list[MetricVerdict]
    min_samples: int
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        out = {
            "verdict": self.verdict,
            "min_samples": self.min_samples,
            "metrics": [m.as_json() for m in self.metrics],
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def _regression(rule: MetricRule, stable: float, canary: float) -> float:
    """How much worse the canary is (positive = worse), in the metric's own units."""
    return stable - canary if rule.direction == "higher" else canary - stable


def _proportion(rule: MetricRule, stable: list[float], canary: list[float]) -> MetricVerdict:
    if any(v not in (0, 1) for v in (*stable, *canary)):
        return MetricVerdict(rule.name, INCONCLUSIVE, "the proportion test needs 0/1 observations")
    ns, nc = len(stable), len(canary)
    ps, pc = sum(stable) / ns, sum(canary) / nc
    regression = _regression(rule, ps, pc)
    se = math.sqrt(ps * (1 - ps) / ns + pc * (1 - pc) / nc)
    from scipy.stats import norm

    z_crit = float(norm.ppf(rule.confidence))
    low = regression - z_crit * se  # one-sided lower bound of the regression
    if se == 0:
        p_value = 0.0 if regression > rule.max_regression else 1.0
        z = math.inf if regression > rule.max_regression else -math.inf
    else:
        z = (regression - rule.max_regression) / se
        p_value = float(norm.sf(z))
    failed = p_value < 1 - rule.confidence
    measurements = {
        "n_stable": ns,
        "n_canary": nc,
        "stable": round(ps, 6),
        "canary": round(pc, 6),
        "regression": round(regression, 6),
        "z": _finite(z),
        "p_value": round(p_value, 6),
        "regression_lower_bound": round(low, 6),
        "max_regression": rule.max_regression,
        "confidence": rule.confidence,
        "test": "proportion",
    }
    reason = (
        f"regressed by {regression:.4f} (> {rule.max_regression}, p={p_value:.4g})"
        if failed
        else f"no regression beyond {rule.max_regression} shown (p={p_value:.4g})"
    )
    return MetricVerdict(rule.name, FAIL if failed else PASS, reason, measurements)


def _mannwhitney(rule: MetricRule, stable: list[float], canary: list[float]) -> MetricVerdict:
    from scipy.stats import mannwhitneyu

    # Shift the canary by the tolerance, then ask whether it is still stochastically worse.
    if rule.direction == "higher":
        shifted = [v + rule.max_regression for v in canary]
        result = mannwhitneyu(shifted, stable, alternative="less")
    else:
        shifted = [v - rule.max_regression for v in canary]
        result = mannwhitneyu(shifted, stable, alternative="greater")
    p_value = float(result.pvalue)
    failed = p_value < 1 - rule.confidence
    ms, mc = statistics.fmean(stable), statistics.fmean(canary)
    measurements = {
        "n_stable": len(stable),
        "n_canary": len(canary),
        "stable": round(ms, 6),
        "canary": round(mc, 6),
        "stable_median": statistics.median(stable),
        "canary_median": statistics.median(canary),
        "regression": round(_regression(rule, ms, mc), 6),
        "u": float(result.statistic),
        "p_value": round(p_value, 6),
        "max_regression": rule.max_regression,
        "confidence": rule.confidence,
        "test": "mannwhitney",
    }
    reason = (
        f"stochastically worse beyond {rule.max_regression} (p={p_value:.4g})"
        if failed
        else f"not shown worse beyond {rule.max_regression} (p={p_value:.4g})"
    )
    return MetricVerdict(rule.name, FAIL if failed else PASS, reason, measurements)


def _threshold(rule: MetricRule, stable: list[float], canary: list[float]) -> MetricVerdict:
    ms, mc = statistics.fmean(stable), statistics.fmean(canary)
    regression = _regression(rule, ms, mc)
    failed = regression > rule.max_regression
    measurements = {
        "n_stable": len(stable),
        "n_canary": len(canary),
        "stable": round(ms, 6),
        "canary": round(mc, 6),
        "regression": round(regression, 6),
        "max_regression": rule.max_regression,
        "test": "threshold",
    }
    reason = f"regression {regression:.4f} {'>' if failed else '<='} {rule.max_regression}"
    return MetricVerdict(rule.name, FAIL if failed else PASS, reason, measurements)


def _finite(value: float) -> float | str:
    return round(value, 6) if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def judge(rule: MetricRule, stable: list[float], canary: list[float], min_samples: int) -> MetricVerdict:
    counts = {"n_stable": len(stable), "n_canary": len(canary)}
    if not stable or not canary:
        return MetricVerdict(rule.name, INCONCLUSIVE, "no data for one of the versions", counts)
    if min(len(stable), len(canary)) < max(min_samples, 2):
        return MetricVerdict(
            rule.name,
            INCONCLUSIVE,
            f"too few samples ({min(len(stable), len(canary))} < {max(min_samples, 2)})",
            counts,
        )
    test = {"proportion": _proportion, "mannwhitney": _mannwhitney}.get(rule.test, _threshold)
    return test(rule, stable, canary)


def analyse(
    rules: Iterable[MetricRule],
    observations: Iterable[Mapping[str, Any]],
    stable: str,
    canary: str,
    min_samples: int,
) -> Analysis:
    """One verdict for a step: fail if any metric fails, else hold if any is inconclusive, else pass."""
    rules = list(rules)
    values: dict[tuple[str, str], list[float]] = {}
    for obs in observations:
        version, metric, value = obs.get("version"), obs.get("metric"), obs.get("value")
        if isinstance(value, bool):
            value = int(value)
        if isinstance(version, str) and isinstance(metric, str) and isinstance(value, int | float):
            values.setdefault((version, metric), []).append(float(value))
    verdicts = [
        judge(r, values.get((stable, r.name), []), values.get((canary, r.name), []), min_samples)
        for r in rules
    ]
    if not verdicts:  # nothing to judge by can never pass
        return Analysis(INCONCLUSIVE, [], min_samples, "the candidate's manifest has no [rollout.metrics]")
    kinds = {v.verdict for v in verdicts}
    verdict = FAIL if FAIL in kinds else INCONCLUSIVE if INCONCLUSIVE in kinds else PASS
    return Analysis(verdict, verdicts, min_samples)
