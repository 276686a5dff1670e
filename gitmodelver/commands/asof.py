from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.deploy import ledger, sync
from gitmodelver.gitstore.repo import Repo


def run(args: argparse.Namespace) -> int:
    env = ledger.check_env(args.env)
    when = ledger.parse_when(args.when)
    book = ledger.Ledger(Repo(args.directory))
    sync.connect(book, args.remote)
    event = book.asof(env, when)
    result = {
        "env": env,
        "at": when,
        "traffic": event.traffic if event else {},
        "event": event.data if event else None,
    }
    if args.json:
        output.emit_json(result)
        return 0
    if event is None:
        output.say(f"{env} at {when}: nothing was serving (no event yet)")
        return 0
    split = ", ".join(f"{tag} {pct:g}%" for tag, pct in event.traffic.items()) or "nothing"
    output.say(f"{env} at {when}: {split}")
    output.say(f"  since event {event.seq} ({event.type} at {event.at} by {event.get('actor')})")
    return 0
