"""What runs of a noisy evaluation show: one run's observation, and two versions' runs compared. Pure.

A run prints a JSON line naming the metric. Its entry is a number (the run's score), a list of
per-item outcomes (0/1 per prompt, or a score per prompt; the run's score is their mean), or an object
``{"value": score, "items": [...]}``; it may sit at the top level or under ``"metrics"`` (the layout of
an evaluation results file). The last such line of a run's output counts.

Two versions compare on their pooled per-item outcomes when every run of both has them (binary
outcomes: a two-proportion z-test; other scores: Welch's t-test over the items), else on the run
scores with Welch's t-test. scipy supplies Student's t, imported when first needed.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROPORTION, WELCH_ITEMS, WELCH_RUNS = "two-proportion", "welch-items", "welch-runs"
# Welch's test on run scores waits for three runs a side: the spread of two is too unsteady an
# estimate at the small levels a bisect tests at (measured: twice the nominal error with two).
MIN_SCORES = 3


class Unreadable(ValueError):
    """A run's output has no usable value for the metric; the message says what was there instead."""


@dataclass(frozen=True)
class Observation:
    """One run: its score and, when the command gave them, its per-item outcomes."""

    value: float
    items: tuple[float, ...] = ()

    @functools.cached_property
    def moments(self) -> tuple[int, float, float]:
        """(count, sum, sum of squares) of the items: what pooling needs, computed once."""
        return len(self.items), math.fsum(self.items), math.fsum(v * v for v in self.items)

    @functools.cached_property
    def binary(self) -> bool:
        return all(v in (0.0, 1.0) for v in self.items)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.items:
            out["items"] = len(self.items)
            out["item_mean"] = round(statistics.fmean(self.items), 6)
        return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _items(value: Any, metric: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise Unreadable(f'"{metric}" items must be a non-empty list of numbers')
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        raise Unreadable(f'"{metric}" items must be finite numbers')
    return tuple(n for n in numbers if n is not None)


def _entry(value: Any, metric: str) -> Observation:
    """The metric's entry in a line: a score, a list of items, or {"value", "items"}."""
    if isinstance(value, list):
        items = _items(value, metric)
        return Observation(statistics.fmean(items), items)
    if isinstance(value, Mapping):
        items = _items(value["items"], metric) if "items" in value else ()
        score = _number(value.get("value")) if "value" in value else None
        if score is None and not items:
            raise Unreadable(f'"{metric}" needs a numeric "value" or "items"')
        return Observation(statistics.fmean(items) if score is None else score, items)
    score = _number(value)
    if score is None:
        raise Unreadable(f'"{metric}" is {json.dumps(value)[:40]}, not a finite number')
    return Observation(score)


def _locate(doc: Mapping[str, Any], metric: str) -> Any:
    if metric in doc:
        return doc[metric]
    nested = doc.get("metrics")
    if isinstance(nested, Mapping) and metric in nested:
        return nested[metric]
    raise KeyError(metric)


def read(text: str, metric: str) -> Observation:
    """The observation in a run's output: the last JSON object line that names ``metric``."""
    keys: list[str] = []
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        try:
            return _entry(_locate(doc, metric), metric)
        except KeyError:
            keys += [str(k) for k in doc if str(k) not in keys]
    if not keys:
        raise Unreadable(f'printed no JSON line with "{metric}"')
    return _missing(metric, keys)


def _missing(metric: str, keys: Sequence[str]) -> Observation:
    shown = ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "")
    raise Unreadable(f'printed JSON lines without "{metric}" (keys: {shown})')


# ------------------------------------------------------------------------------------ pools and tests


@dataclass(frozen=True)
class Summary:
    """A version's pooled runs: how many, the mean the comparison uses, and over how many units."""

    runs: int
    mean: float
    units: int  # items when compared on items, else runs


@dataclass(frozen=True)
class Comparison:
    """``b`` against ``a``: the difference of means (b - a) with its standard error.

    ``se_null`` is the standard error under "no difference" (the pooled proportion for the z-test),
    used for p-values; ``se`` is the unpooled one, used for confidence intervals.
    """

    test: str
    a: Summary
    b: Summary
    effect: float
    se: float
    se_null: float
    df: float | None  # Welch's degrees of freedom; None for the z-test

    def p_lower(self) -> float:
        """One-sided p-value of "b's mean is below a's"."""
        return self._p(-self.effect)

    def p_higher(self) -> float:
        """One-sided p-value of "b's mean is above a's"."""
        return self._p(self.effect)

    def _p(self, toward: float) -> float:
        if self.se_null == 0:  # no spread at all: the difference, if any, is exact
            return 0.0 if toward > 0 else 1.0
        stat = toward / self.se_null
        if self.df is None:
            return 0.5 * math.erfc(stat / math.sqrt(2))
        from scipy.special import stdtr

        return float(stdtr(self.df, -stat))

    def interval(self, confidence: float) -> tuple[float, float]:
        """Two-sided confidence interval of the effect."""
        if self.se == 0:
            return self.effect, self.effect
        if self.df is None:
            q = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
        else:
            from scipy.special import stdtrit

            q = float(stdtrit(self.df, 0.5 + confidence / 2))
        return self.effect - q * self.se, self.effect + q * self.se

    def as_json(self, confidence: float) -> dict[str, Any]:
        low, high = self.interval(confidence)
        return {
            "test": self.test,
            "effect": round(self.effect, 6),
            "ci": [round(low, 6), round(high, 6)],
            "confidence": confidence,
            "units": [self.a.units, self.b.units],
        }


def comparable_on_items(a: Sequence[Observation], b: Sequence[Observation]) -> bool:
    return all(o.items for o in (*a, *b))


@dataclass(frozen=True)
class _Sample:
    """Pooled values as moments: count, mean and (unbiased) variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of_items(cls, pool: Sequence[Observation]) -> _Sample:
        n = sum(o.moments[0] for o in pool)
        total, squares = math.fsum(o.moments[1] for o in pool), math.fsum(o.moments[2] for o in pool)
        mean = total / n
        return cls(n, mean, max(0.0, (squares - n * mean * mean) / (n - 1)) if n > 1 else math.nan)

    @classmethod
    def of_values(cls, values: Sequence[float]) -> _Sample:
        n = len(values)
        return cls(n, statistics.fmean(values), statistics.variance(values) if n > 1 else math.nan)


def compare(a: Sequence[Observation], b: Sequence[Observation]) -> Comparison | None:
    """``b`` against ``a``, or None while there is too little to compare (too few runs for Welch)."""
    if not a or not b:
        return None
    if comparable_on_items(a, b):
        xs, ys = _Sample.of_items(a), _Sample.of_items(b)
        if all(o.binary for o in (*a, *b)):
            return _proportions(xs, ys, len(a), len(b))
        return _welch(xs, ys, WELCH_ITEMS, len(a), len(b))
    if min(len(a), len(b)) < MIN_SCORES:
        return None
    xs, ys = (_Sample.of_values([o.value for o in pool]) for pool in (a, b))
    return _welch(xs, ys, WELCH_RUNS, len(a), len(b))


def _proportions(xs: _Sample, ys: _Sample, runs_a: int, runs_b: int) -> Comparison:
    pa, pb = xs.mean, ys.mean
    pooled = (pa * xs.n + pb * ys.n) / (xs.n + ys.n)
    se = math.sqrt(pa * (1 - pa) / xs.n + pb * (1 - pb) / ys.n)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / xs.n + 1 / ys.n))
    a, b = Summary(runs_a, pa, xs.n), Summary(runs_b, pb, ys.n)
    return Comparison(PROPORTION, a, b, pb - pa, se, se_null, None)


def _welch(xs: _Sample, ys: _Sample, test: str, runs_a: int, runs_b: int) -> Comparison | None:
    if xs.n < 2 or ys.n < 2:
        return None
    va, vb = xs.variance / xs.n, ys.variance / ys.n
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (xs.n - 1) + vb**2 / (ys.n - 1)) if se > 0 else math.inf
    a, b = Summary(runs_a, xs.mean, xs.n), Summary(runs_b, ys.mean, ys.n)
    return Comparison(test, a, b, ys.mean - xs.mean, se, se, df)
