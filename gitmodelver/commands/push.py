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
    from gitmodelver.attest import sync  # after the tags: the server checks each signature against its tag

    synced = sync.publish(repo, args.remote)
    if args.json:
        output.emit_json(
            {
                **result.as_json(),
                "attestations": {"fetched": synced.fetched, "pushed": synced.pushed} if synced else None,
            }
        )
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
    if synced is not None:
        pushed = "pushed" if synced.pushed else "up to date"
        output.say(f"attestations -> {result.remote}: {pushed}, {synced.fetched} fetched")
    return 0
