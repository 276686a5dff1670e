from __future__ import annotations

import argparse

from gitmodelver import deployments, ledger, output
from gitmodelver.commands import open_for
from gitmodelver.commands._serving import version_ref


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_for(args, args.version)
    env = ledger.check_env(args.env)
    version = version_ref(repo, sys_, args.version)
    who = ledger.actor(repo)
    event = ledger.Ledger(repo).append(
        env,
        lambda prev: deployments.deploy(prev, version, who, args.reason, env=env),
        f"deploy {env}: {version.tag} at 100%",
    )
    if args.json:
        output.emit_json(event.data)
    else:
        output.say(f"{env}: {version.tag} serves 100% (event {event.seq})")
    return 0
