"""Canary verdicts on generated observations (pure, seeded, table-driven)."""

from __future__ import annotations

import random

import pytest

from gitmodelver.deploy.gates import FAIL, INCONCLUSIVE, PASS, MetricRule, analyse


def bernoulli(
    version: str, p: float, n: int, seed: int, metric: str = "thumbs_up"
) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"version": version, "metric": metric, "value": int(rng.random() < p)} for _ in range(n)]


def gaussian(version: str, mu: float, n: int, seed: int, metric: str = "latency") -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"version": version, "metric": metric, "value": rng.gauss(mu, 10)} for _ in range(n)]


PROPORTION = MetricRule("thumbs_up", "higher", 0.02, "proportion", 0.95)
LATENCY = MetricRule("latency", "lower", 5.0, "mannwhitney", 0.95)
THRESHOLD = MetricRule("thumbs_up", "higher", 0.05, "threshold")


@pytest.mark.parametrize(
    ("name", "rule", "rows", "expected"),
    [
        ("better candidate", PROPORTION, bernoulli("s", 0.80, 600, 1) + bernoulli("c", 0.86, 600, 2), PASS),
        (
            "same, noise within tolerance",
            PROPORTION,
            bernoulli("s", 0.80, 600, 3) + bernoulli("c", 0.795, 600, 14),
            PASS,
        ),
        ("clearly worse", PROPORTION, bernoulli("s", 0.80, 600, 5) + bernoulli("c", 0.60, 600, 6), FAIL),
        (
            "too few samples",
            PROPORTION,
            bernoulli("s", 0.80, 50, 7) + bernoulli("c", 0.10, 50, 8),
            INCONCLUSIVE,
        ),
        ("no canary data", PROPORTION, bernoulli("s", 0.80, 600, 9), INCONCLUSIVE),
        ("latency better", LATENCY, gaussian("s", 100, 300, 1) + gaussian("c", 95, 300, 2), PASS),
        ("latency within tolerance", LATENCY, gaussian("s", 100, 300, 3) + gaussian("c", 102, 300, 4), PASS),
        ("latency much worse", LATENCY, gaussian("s", 100, 300, 5) + gaussian("c", 120, 300, 6), FAIL),
        ("threshold pass", THRESHOLD, bernoulli("s", 0.80, 300, 1) + bernoulli("c", 0.78, 300, 1), PASS),
        ("threshold fail", THRESHOLD, bernoulli("s", 0.80, 300, 1) + bernoulli("c", 0.60, 300, 2), FAIL),
    ],
)
def test_verdicts(name: str, rule: MetricRule, rows: list[dict[str, object]], expected: str) -> None:
    result = analyse([rule], rows, "s", "c", min_samples=200)
    assert result.verdict == expected, result.as_json()


def test_any_failure_fails_and_measurements_are_recorded() -> None:
    rows = (
        bernoulli("s", 0.8, 600, 1)
        + bernoulli("c", 0.8, 600, 1)
        + gaussian("s", 100, 300, 1)
        + gaussian("c", 130, 300, 2)
    )
    result = analyse([PROPORTION, LATENCY], rows, "s", "c", min_samples=200)
    assert result.verdict == FAIL
    by_name = {m.metric: m for m in result.metrics}
    assert by_name["thumbs_up"].verdict == PASS
    latency = by_name["latency"].as_json()
    assert latency["verdict"] == FAIL and latency["p_value"] < 0.05
    assert {"n_stable", "n_canary", "stable", "canary", "u", "max_regression"} <= set(latency)


def test_inconclusive_beats_pass_and_no_rules_never_pass() -> None:
    rows = bernoulli("s", 0.8, 600, 1) + bernoulli("c", 0.8, 600, 2)
    result = analyse([PROPORTION, LATENCY], rows, "s", "c", min_samples=200)
    assert result.verdict == INCONCLUSIVE
    assert analyse([], rows, "s", "c", 0).verdict == INCONCLUSIVE


def test_proportion_rejects_non_binary_values() -> None:
    rows = gaussian("s", 1, 300, 1, "thumbs_up") + gaussian("c", 1, 300, 2, "thumbs_up")
    assert analyse([PROPORTION], rows, "s", "c", 10).verdict == INCONCLUSIVE


def test_false_alarm_rate_is_near_one_minus_confidence() -> None:
    """Across many seeds, an equal candidate is rarely failed and a much worse one nearly always is."""
    equal = [
        analyse([PROPORTION], bernoulli("s", 0.8, 400, s) + bernoulli("c", 0.8, 400, 1000 + s), "s", "c", 200)
        for s in range(100)
    ]
    worse = [
        analyse(
            [PROPORTION], bernoulli("s", 0.8, 400, s) + bernoulli("c", 0.65, 400, 1000 + s), "s", "c", 200
        )
        for s in range(100)
    ]
    assert sum(a.verdict == FAIL for a in equal) <= 5
    assert sum(a.verdict == FAIL for a in worse) >= 90
