"""``eval import``: a harness's result file made into evaluation results for the state it evaluated.

The file must say which state it evaluated (each harness records ``modelver_state`` in its own metadata,
README "Using it with your eval harness"), and that state must be the working tree's: results are stamped
with the digest they were measured on, never with one they were merely imported next to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver import advice
from gitmodelver.core import evaluation
from gitmodelver.core.filerefs import join, ref_kind
from gitmodelver.errors import CheckFailed, UsageError
from gitmodelver.gitstore import fsutil, system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.interop import inspect_log, lm_eval_results, promptfoo_output
from gitmodelver.interop.harness_run import STATE_KEY, HarnessRun, results_of

READERS: dict[str, Callable[[Mapping[str, Any], str], HarnessRun]] = {
    "inspect": inspect_log.read,
    "promptfoo": promptfoo_output.read,
    "lm-eval": lm_eval_results.read,
}

# How each harness records the state it evaluated (the message of a file that records none).
RECORD_STATE = {
    "inspect": f"inspect eval … --metadata {STATE_KEY}=$(git modelver digest)",
    "promptfoo": f"promptfoo eval … with `metadata: {{{STATE_KEY}: …}}` in the config's top level "
    f"(e.g. `{STATE_KEY}: '{{{{ env.MODELVER_STATE }}}}'`)",
    "lm-eval": f"lm_eval … --metadata '{{\"{STATE_KEY}\": \"'$(git modelver digest)'\"}}'",
}


@dataclass(frozen=True)
class Imported:
    path: str  # where the results were written, relative to the repository
    document: dict[str, Any]
    gates: list[evaluation.GateResult]

    @property
    def failed(self) -> list[evaluation.GateResult]:
        return [g for g in self.gates if not g.ok]


def _load(file: Path) -> tuple[Mapping[str, Any], bytes]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read it ({exc.strerror or exc})") from exc
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{file}: not valid JSON ({exc})") from exc
    if not isinstance(doc, Mapping):
        raise UsageError(f"{file}: not a JSON object")
    return doc, raw


def evaluated_state(run: HarnessRun, file: str, harness: str, current: str) -> str:
    """The state the run evaluated, which must be ``current`` (the working tree's)."""
    if not run.states:
        raise UsageError(
            f"{file}: the {run.harness} run does not say which state it evaluated; "
            f"record it when you run it: {RECORD_STATE[harness]}"
        )
    if len(run.states) > 1:
        raise UsageError(f"{file}: the run names several states: {', '.join(sorted(run.states))}")
    claimed = next(iter(run.states))
    if claimed != current:
        raise CheckFailed(
            f"{file}: evaluated state {claimed}, but the working tree is state {current}: "
            "check out the state that was evaluated, or run the evaluation again on this one"
        )
    return claimed


def _raw_pointer(repo: Repo, file: Path, raw: bytes) -> dict[str, str]:
    where = file.resolve()
    try:
        shown = where.relative_to(repo.root.resolve()).as_posix()
    except ValueError:
        shown = str(where)
    return {"path": shown, "sha256": hashlib.sha256(raw).hexdigest()}


def _target(data: Mapping[str, Any], base: str, out: str | None, root: Path, retry: list[str]) -> str:
    """Where the results go: ``out``, else the file ``evaluation.results`` names."""
    if out is not None:
        target = os.path.relpath(Path(out).resolve(), root.resolve()).replace(os.sep, "/")
        if target == ".." or target.startswith("../"):
            raise UsageError(f"{out}: outside the repository; results live beside the manifest they certify")
        return target
    table = data.get("evaluation")
    ref = table.get("results") if isinstance(table, Mapping) else None
    if isinstance(ref, Mapping) and ref_kind(ref) == "path":
        return join(base, ref["path"])
    raise UsageError(
        "[evaluation] names no results file to write",
        fix=advice.modelver(*retry, "-o", join(base, "evals/results.json")),
    )


def run_import(repo: Repo, sys_: system.System, harness: str, file: Path, out: str | None) -> Imported:
    doc, raw = _load(file)
    run = READERS[harness](doc, str(file))
    snap = system.worktree_snapshot(repo, sys_)
    retry = ["eval", "import", "--from", harness, str(file)]
    target = _target(snap.manifest.data, sys_.base, out, repo.root, retry)
    subject = evaluated_state(run, str(file), harness, snap.state)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    document = results_of(run, subject, _raw_pointer(repo, file, raw), now)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    destination = repo.root / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(destination, text.encode("utf-8"))
    gates = evaluation.check_gates(evaluation.gates_of(snap.manifest.data), document["metrics"])
    return Imported(target, document, gates)
