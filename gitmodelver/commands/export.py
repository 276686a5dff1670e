"""``export mlflow``: every release as a version of an MLflow registered model, aliases from the ledger."""

from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.commands._arguments import open_system
from gitmodelver.deploy import ledger, sync
from gitmodelver.interop import mlflow_export


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    book = ledger.Ledger(repo)
    sync.connect(book, args.remote)
    report = mlflow_export.export(
        repo,
        sys_,
        book,
        args.tracking_uri,
        args.model,
        args.artifact_location,
        copy_weights=args.copy_weights,
        dvc_remote=args.dvc_remote,
    )
    if args.json:
        output.emit_json(report.as_json())
        return 0
    for line in report.lines():
        output.say(line)
    return 0
