"""``eval import --from inspect|promptfoo|lm-eval FILE``: a harness's result file as evaluation results."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitmodelver import output
from gitmodelver.commands._arguments import open_system
from gitmodelver.errors import CheckFailed
from gitmodelver.interop import eval_import


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    file = Path(args.directory, args.file)
    out = str(Path(args.directory, args.output)) if args.output else None
    done = eval_import.run_import(repo, sys_, args.harness, file, out)
    doc = done.document
    if args.json:
        output.emit_json(
            {
                "path": done.path,
                "subject": doc["subject"],
                "harness": doc["harness"],
                "metrics": doc["metrics"],
                "samples": doc["samples"],
                "raw": doc["raw"],
                "gates": [
                    {"metric": g.metric, "rule": g.rule, "value": g.value, "ok": g.ok} for g in done.gates
                ],
                "ok": not done.failed,
            }
        )
    else:
        output.say(
            f"{done.path}  {doc['subject']}  ({len(doc['metrics'])} metrics from {doc['harness']['name']})"
        )
        for gate in done.gates:
            output.say(f"  {'ok  ' if gate.ok else 'FAIL'} {gate.describe()}")
    if done.failed:
        failed = "; ".join(g.describe() for g in done.failed)
        if args.json:
            return 1
        raise CheckFailed(f"{done.path}: written, but a gate failed: {failed}")
    return 0
