"""inspect-ai's JSON eval log (``inspect eval … --log-format json``): one task, its scorers and metrics.

The state is what ``--metadata modelver_state=…`` recorded in ``eval.metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitmodelver.errors import UsageError
from gitmodelver.interop.harness_run import HarnessRun, TaskScores, mapping, number, state_in


def read(doc: Mapping[str, Any], path: str) -> HarnessRun:
    evaluation, results = mapping(doc.get("eval")), mapping(doc.get("results"))
    if not evaluation.get("task"):
        raise UsageError(
            f"{path}: not an inspect-ai eval log (no eval.task); write one with --log-format json"
        )
    if doc.get("status") != "success" or not results:
        why = mapping(doc.get("error")).get("message") or f"status {doc.get('status')!r}"
        raise UsageError(f"{path}: the inspect-ai run did not finish ({str(why).splitlines()[0][:200]})")
    scores = [mapping(s) for s in results.get("scores") or []]
    several = len(scores) > 1
    found: dict[str, float] = {}
    scored: dict[str, Any] = {}
    for score in scores:
        scorer = str(score.get("name") or score.get("scorer"))
        scored[scorer] = score.get("scored_samples")
        for key, metric in mapping(score.get("metrics")).items():
            value = number(mapping(metric).get("value"))
            if value is not None:
                found[f"{scorer}/{key}" if several else str(key)] = value
    samples = results.get("completed_samples")
    task = TaskScores(
        samples if isinstance(samples, int) else None,
        found,
        {
            "total_samples": results.get("total_samples"),
            "scored_samples": scored,
            "model": evaluation.get("model"),
        },
    )
    return HarnessRun(
        harness="inspect-ai",
        version=mapping(evaluation.get("packages")).get("inspect_ai"),
        states=frozenset(state_in(evaluation.get("metadata"))),
        tasks={str(evaluation["task"]): task},
        created_at=evaluation.get("created"),
        samples=task.samples,
    )
