from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.commands._arguments import open_system
from gitmodelver.gitstore import system


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    snap = system.worktree_snapshot(repo, sys_)
    if args.json:
        output.emit_json({"state": snap.state, "version": snap.version_digest})
    else:
        output.say(snap.state)
    return 0
