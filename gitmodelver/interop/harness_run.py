"""What a harness's result file says, in one shape for every harness, and the evaluation results made of it.

Pure: the readers (``inspect_log``, ``promptfoo_output``, ``lm_eval_results``) build a ``HarnessRun`` from
the parsed JSON; ``results_of`` turns it into the document of ``schemas/eval-results.schema.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitmodelver.errors import UsageError

# The key a harness run carries the evaluated state under, in the metadata each harness records.
STATE_KEY = "modelver_state"


@dataclass(frozen=True)
class TaskScores:
    """One task (inspect-ai task, promptfoo prompt, lm-eval task): its metrics as the harness names them."""

    samples: int | None
    metrics: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. lm-eval's n-samples, promptfoo's counts

    def as_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "metrics": dict(self.metrics), **self.extra}


@dataclass(frozen=True)
class HarnessRun:
    harness: str
    version: str | None
    states: frozenset[str]  # the state digests the run says it evaluated (none, one, or a contradiction)
    tasks: dict[str, TaskScores]
    created_at: str | None
    overall: dict[str, float] = field(default_factory=dict)  # run-wide metrics (promptfoo's pass rate)
    samples: int | None = None


def number(value: Any) -> float | None:
    """A finite number, else None (booleans are not numbers here; NaN fails every gate, so it is left out)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metrics(run: HarnessRun) -> dict[str, float]:
    """Every metric as ``TASK/METRIC``; with one task, also by the harness's own name (``accuracy``)."""
    found: dict[str, float] = dict(run.overall)
    for task, scores in run.tasks.items():
        found.update({f"{task}/{name}": value for name, value in scores.metrics.items()})
    if len(run.tasks) == 1:
        only = next(iter(run.tasks.values()))
        found.update({k: v for k, v in only.metrics.items() if k not in found})
    return dict(sorted(found.items()))


def results_of(run: HarnessRun, subject: str, raw: Mapping[str, str], imported_at: str) -> dict[str, Any]:
    """The evaluation results document: stamped with ``subject``, pointing at the raw file."""
    found = metrics(run)
    if not found:
        raise UsageError(f"{raw['path']}: the {run.harness} file holds no numeric metric to import")
    return {
        "subject": subject,
        "metrics": found,
        "created_at": run.created_at or imported_at,
        "harness": {"name": run.harness, "version": run.version},
        "samples": run.samples,
        "tasks": {name: scores.as_json() for name, scores in sorted(run.tasks.items())},
        "raw": dict(raw),
        "imported_at": imported_at,
    }


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def state_in(meta: Any) -> set[str]:
    """The state a harness's metadata table names, as a set (empty when it names none)."""
    claimed = mapping(meta).get(STATE_KEY)
    return {claimed.strip()} if isinstance(claimed, str) and claimed.strip() else set()
