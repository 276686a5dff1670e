"""promptfoo's output file (``promptfoo eval -o results.json``): one task per prompt and provider.

Names are promptfoo's: ``successes``, ``failures``, ``errors`` (the run's stats), and per prompt ``score``
(the mean), ``testPassCount``, ``testFailCount``, ``testErrorCount``, each named score (its mean), and
``pass_rate`` (passes over tests, as promptfoo prints it). The state is what the config's top-level
``metadata: {modelver_state: …}`` recorded (it is rendered, so ``{{ env.MODELVER_STATE }}`` works).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitmodelver.errors import UsageError
from gitmodelver.interop.harness_run import HarnessRun, TaskScores, mapping, number, state_in

COUNTS = ("testPassCount", "testFailCount", "testErrorCount")


def _rate(passed: float, total: float) -> dict[str, float]:
    return {"pass_rate": passed / total} if total else {}


def _prompt(metrics: Mapping[str, Any]) -> TaskScores:
    counts = {k: number(metrics.get(k)) or 0.0 for k in COUNTS}
    tests = sum(counts.values())
    found = {**counts, **_rate(counts["testPassCount"], tests)}
    score = number(metrics.get("score"))
    if score is not None and tests:
        found["score"] = score / tests
    named, seen = mapping(metrics.get("namedScores")), mapping(metrics.get("namedScoresCount"))
    for name, total in named.items():
        value, times = number(total), number(seen.get(name)) or 0.0
        if value is not None and times:
            found[str(name)] = value / times
    return TaskScores(int(tests), found)


def read(doc: Mapping[str, Any], path: str) -> HarnessRun:
    results = mapping(doc.get("results"))
    stats = mapping(results.get("stats"))
    if not results.get("prompts") or not stats:
        raise UsageError(f"{path}: not a promptfoo output file (no results.prompts or results.stats)")
    tasks: dict[str, TaskScores] = {}
    for prompt in results["prompts"]:
        prompt = mapping(prompt)
        name = f"[{prompt.get('provider')}] {prompt.get('label') or prompt.get('raw')}"
        tasks[name] = _prompt(mapping(prompt.get("metrics")))
    counts = {k: number(stats.get(k)) or 0.0 for k in ("successes", "failures", "errors")}
    total = sum(counts.values())
    config = mapping(doc.get("config"))
    return HarnessRun(
        harness="promptfoo",
        version=mapping(doc.get("metadata")).get("promptfooVersion"),
        states=frozenset(state_in(config.get("metadata"))),
        tasks=tasks,
        created_at=results.get("timestamp") if isinstance(results.get("timestamp"), str) else None,
        overall={**counts, **_rate(counts["successes"], total)},
        samples=int(total),
    )
