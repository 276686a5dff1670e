from __future__ import annotations

import argparse

from gitmodelver.commands._arguments import open_for
from gitmodelver.commands._serving import record, version_ref
from gitmodelver.deploy import deployments, ledger, sync
from gitmodelver.gitstore.repo import Repo


def run(args: argparse.Namespace) -> int:
    env = ledger.check_env(args.env)
    book = ledger.Ledger(Repo(args.directory))
    writer = sync.connect(book, args.remote)
    wanted = args.to or deployments.rollback_target(book.last(env), env=env)  # a full tag from the ledger
    repo, sys_ = open_for(args, wanted)
    target = version_ref(repo, sys_, wanted)
    who = ledger.actor(repo)
    record(
        writer,
        env,
        lambda prev: deployments.rollback(prev, target, who, args.reason, env=env),
        f"rollback {env}: {target.tag} at 100%",
        args.json,
        lambda event: f"{env}: rolled back to {target.tag} (event {event.seq})",
    )
    return 0
