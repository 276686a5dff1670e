from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.dvc import push
from gitmodelver.gitstore import system
from gitmodelver.gitstore.repo import Repo


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    systems = [system.select(repo, args.system)] if args.system else system.discover(repo)
    result = push.push(repo, systems, args.remote, dvc_remote=args.dvc_remote, say=output.warn)
    if args.json:
        output.emit_json(result.as_json())
        return 0
    output.say(f"DVC: {result.objects} object(s) uploaded")
    if result.branch:
        output.say(f"branch {result.branch} -> {result.remote}")
    output.say(
        f"{len(result.tags)} version tag(s) -> {result.remote}"
        + (f": {', '.join(result.tags)}" if result.tags else "")
    )
    if result.ledger:
        output.say(f"ledger -> {result.remote}")
    return 0
