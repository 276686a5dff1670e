"""lm-evaluation-harness's results file (``lm_eval … --output_path DIR`` writes ``results_<date>.json``).

Metric names are kept as the harness writes them (``acc,none``: metric, then filter); standard errors
(``acc_stderr,none``) are kept too. The state is what ``--metadata '{"modelver_state": "…"}'`` put into
every task's config (``configs.TASK.metadata``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gitmodelver.errors import UsageError
from gitmodelver.interop.harness_run import HarnessRun, TaskScores, mapping, number, state_in


def _samples(counts: Any) -> int | None:
    effective = mapping(counts).get("effective")
    return effective if isinstance(effective, int) else None


def read(doc: Mapping[str, Any], path: str) -> HarnessRun:
    results = mapping(doc.get("results"))
    if not results:
        raise UsageError(f"{path}: not an lm-evaluation-harness results file (no `results` table)")
    counts = mapping(doc.get("n-samples"))
    tasks = {}
    for task, table in results.items():
        found = {str(k): v for k, v in mapping(table).items() if k != "alias" and number(v) is not None}
        extra = {"n-samples": counts.get(task)} if task in counts else {}
        if task in mapping(doc.get("n-shot")):
            extra["n-shot"] = mapping(doc.get("n-shot"))[task]
        tasks[str(task)] = TaskScores(
            _samples(counts.get(task)), {k: float(v) for k, v in found.items()}, extra
        )
    states: set[str] = set()
    for config in mapping(doc.get("configs")).values():
        states |= state_in(mapping(config).get("metadata"))
    states |= state_in(mapping(doc.get("config")).get("metadata"))
    date = number(doc.get("date"))
    when = dt.datetime.fromtimestamp(date, dt.UTC).isoformat().replace("+00:00", "Z") if date else None
    known = [t.samples for t in tasks.values() if t.samples is not None]
    return HarnessRun(
        harness="lm-evaluation-harness",
        version=doc.get("lm_eval_version") if isinstance(doc.get("lm_eval_version"), str) else None,
        states=frozenset(states),
        tasks=tasks,
        created_at=when,
        samples=sum(known) if known else None,
    )
