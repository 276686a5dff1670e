"""Evaluation results and gates (SPEC §4): bound to a state digest, checked before a release."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gitmodelver.core.filerefs import Tree, follow, join, ref_kind

# The same grammar as the manifest schema's gates: an operator and one finite number.
_GATE = re.compile(r"^\s*(>=|<=|==|>|<)\s*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class GateResult:
    metric: str
    rule: str
    value: float | None
    ok: bool

    def describe(self) -> str:
        shown = "missing" if self.value is None else f"{self.value:g}"
        return f"{self.metric} = {shown} (needs {self.rule.strip()})"


@dataclass(frozen=True)
class Results:
    path: str
    data: dict[str, Any]
    problems: list[str]

    @property
    def subject(self) -> str | None:
        subject = self.data.get("subject")
        return subject if isinstance(subject, str) else None

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self.data.get("metrics")
        return metrics if isinstance(metrics, dict) else {}


def check_gates(gates: Mapping[str, str], metrics: Mapping[str, Any]) -> list[GateResult]:
    results = []
    for metric, rule in gates.items():
        match = _GATE.match(str(rule))
        value = metrics.get(metric)
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        ok = bool(match and number is not None and _OPS[match.group(1)](number, float(match.group(2))))
        results.append(GateResult(metric, str(rule), number, ok))
    return results


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    path = Path(__file__).parent.parent / "schemas" / "eval-results.schema.json"
    return json.loads(path.read_text("utf-8"))


def load_results(tree: Tree, data: Mapping[str, Any], base: str) -> Results | None:
    """The results file the manifest names, validated against its schema; None when it names none."""
    evaluation = data.get("evaluation")
    ref = evaluation.get("results") if isinstance(evaluation, Mapping) else None
    if not isinstance(ref, Mapping) or ref_kind(ref) != "path":
        return None
    path = join(base, ref["path"])
    followed = follow(tree, path)  # a symlink is the file it leads to, as its pin says
    raw = tree.read(followed.path) if followed.problem is None else None
    if raw is None:
        return Results(path, {}, [f"{path}: {followed.problem or followed.dangling or 'no such file'}"])
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Results(path, {}, [f"{path}: not valid JSON ({exc})"])
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    problems = [
        f"{path}: /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]
    return Results(path, doc if isinstance(doc, dict) else {}, problems)


def gates_of(data: Mapping[str, Any]) -> dict[str, str]:
    evaluation = data.get("evaluation")
    gates = evaluation.get("gates") if isinstance(evaluation, Mapping) else None
    return {str(k): str(v) for k, v in gates.items()} if isinstance(gates, Mapping) else {}
