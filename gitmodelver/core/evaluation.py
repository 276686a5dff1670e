"""Evaluation results and gates (SPEC §4), and what binds results to the state they certify.

Two kinds of results certify a state:

* ``evaluation.results``: JSON whose ``subject`` is the state digest it evaluated (stamped by the harness
  with ``git modelver digest``): bound when the subject is the current state digest.
* ``evaluation.metrics``: a DVC metrics file (JSON or YAML, as ``dvc metrics show`` reads it) written by a
  pipeline stage: bound when dvc.lock records it as that stage's output with the file's current md5 and
  the stage is up to date (its dependencies' md5s and params match the tree): DVC's own proof that the
  metrics come from these weights, data and params.
"""

from __future__ import annotations

import hashlib
import json
import operator
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gitmodelver.core import dvcfiles, pipeline
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


@dataclass(frozen=True)
class Assessment:
    """Whether the results a manifest names certify ``state``, and how its gates fare on them."""

    path: str
    problems: list[str]  # the results cannot be read: nothing else is judged
    bound: bool
    binding: str  # what binds them (for the person reading), or why they are not bound
    gates: list[GateResult]

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.ok]


def assess(tree: Tree, data: Mapping[str, Any], base: str, state: str) -> Assessment | None:
    """The results of ``evaluation.results`` (digest-stamped) or else ``evaluation.metrics`` (DVC metrics,
    bound by dvc.lock), judged for ``state``; None when the manifest names neither."""
    gates = gates_of(data)
    results = load_results(tree, data, base)
    if results is not None:
        if results.problems:
            return Assessment(results.path, results.problems, False, "unreadable", [])
        bound = results.subject == state
        shown = (results.subject or "no subject")[:19]
        binding = (
            "subject is this state"
            if bound
            else f"results are for {shown}…, not the current state {state[:19]}…"
        )
        return Assessment(results.path, [], bound, binding, check_gates(gates, results.metrics))
    metrics = load_metrics(tree, data, base)
    if metrics is None:
        return None
    if metrics.problems:
        return Assessment(metrics.path, metrics.problems, False, "unreadable", [])
    bound, binding = metrics_binding(tree, metrics.path)
    return Assessment(metrics.path, [], bound, binding, check_gates(gates, metrics.metrics))


def load_metrics(tree: Tree, data: Mapping[str, Any], base: str) -> Results | None:
    """The DVC metrics file ``evaluation.metrics`` names, its numbers flattened to dotted names."""
    evaluation = data.get("evaluation")
    ref = evaluation.get("metrics") if isinstance(evaluation, Mapping) else None
    if not isinstance(ref, Mapping) or ref_kind(ref) != "path":
        return None
    path = join(base, ref["path"])
    doc = pipeline.read_params(tree, path)  # DVC reads metrics files as it reads params files
    if doc is None:
        why = "not JSON or YAML that DVC can read" if tree.exists(path) else "no such file"
        return Results(path, {}, [f"{path}: {why}"])
    return Results(path, {"metrics": _numbers(doc)}, [])


def _numbers(doc: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_numbers(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def metrics_binding(tree: Tree, path: str) -> tuple[bool, str]:
    """Whether dvc.lock proves the metrics at ``path`` come from the current state, and how (or why not)."""
    for folder in pipeline.folders_up(posixpath.dirname(path)):
        lockfile = join(folder, pipeline.DVC_LOCK)
        out = next((o for o in dvcfiles.lock_outs(tree, lockfile) if o.path == path), None)
        if out is None:
            continue
        raw = tree.read(path)
        if raw is not None and hashlib.md5(raw).hexdigest() != out.md5:
            return False, f"{path} was edited after `dvc repro` ({lockfile} recorded another md5)"
        stale = [s for s in pipeline.stale_stages(tree, [folder]) if s.stage == out.stage]
        if stale:
            return False, f"stage {stale[0]} in {lockfile}: the metrics are not of this state"
        return True, f"stage {out.stage} in {lockfile} is up to date"
    return False, f"no dvc.lock stage records {path} as an output: nothing binds it to a state"
