from __future__ import annotations

import argparse

from gitmodelver.commands._arguments import open_for
from gitmodelver.commands._serving import admit, record, version_ref, with_override
from gitmodelver.deploy import deployments, ledger, sync


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_for(args, args.version)
    env = ledger.check_env(args.env)
    book = ledger.Ledger(repo)
    writer = sync.connect(book, args.remote)
    book.last(env)  # a broken ledger is refused before the slower verification, not after it
    version = version_ref(repo, sys_, args.version)
    past = admit(
        repo, book, env, version.tag, args.override_policy, f"git modelver deploy {version.tag} --env {env}"
    )
    who = ledger.actor(repo)
    record(
        writer,
        env,
        with_override(lambda prev: deployments.deploy(prev, version, who, args.reason, env=env), past),
        f"deploy {env}: {version.tag} at 100%",
        args.json,
        lambda event: f"{env}: {version.tag} serves 100% (event {event.seq})",
    )
    return 0
