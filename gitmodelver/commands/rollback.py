from __future__ import annotations

import argparse

from gitmodelver import deployments, ledger, output
from gitmodelver.commands import open_system
from gitmodelver.commands._serving import version_ref


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    env = ledger.check_env(args.env)
    book = ledger.Ledger(repo)
    target = version_ref(repo, sys_, args.to or deployments.rollback_target(book.last(env), env=env))
    who = ledger.actor(repo)
    event = book.append(
        env,
        lambda prev: deployments.rollback(prev, target, who, args.reason, env=env),
        f"rollback {env}: {target.tag} at 100%",
    )
    if args.json:
        output.emit_json(event.data)
    else:
        output.say(f"{env}: rolled back to {target.tag} (event {event.seq})")
    return 0
