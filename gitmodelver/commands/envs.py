from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output
from gitmodelver.commands._serving import promotion_judgement
from gitmodelver.deploy import deployments, ledger, sync
from gitmodelver.gitstore.repo import Repo


def show(states: dict[str, dict[str, Any]]) -> None:
    if not states:
        output.say("no deployments yet (`git modelver deploy VERSION --env ENV`)")
    for env, state in states.items():
        traffic: dict[str, float] = state["traffic"] or {}
        split = ", ".join(f"{tag} {pct:g}%" for tag, pct in traffic.items()) or "nothing"
        output.say(f"{env:<12} {state['state']:<12} {split}")
        rule = state.get("promotion")
        if rule:
            held = "held" if rule["held"] else "NOT HELD: " + "; ".join(rule["missing"])
            output.say(f"{'':<12} rule: {rule['rule']} ({held})")


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    book = ledger.Ledger(repo)
    sync.connect(book, args.remote)
    tip = book.tip()
    states = {env: deployments.summary(book.last(env, tip)) for env in book.envs()}
    for env, state in states.items():
        serving = state.get("stable")
        if serving:
            found = promotion_judgement(repo, book, env, str(serving))
            if not found.rule.empty:
                state["promotion"] = found.as_json()
    if args.json:
        output.emit_json(states)
    else:
        show(states)
    return 0
