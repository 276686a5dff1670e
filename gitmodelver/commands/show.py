from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import open_version
from gitmodelver.core import evaluation
from gitmodelver.core.digest import state_digest
from gitmodelver.gitstore import signature, tagmsg, versions
from gitmodelver.gitstore.system import tree_snapshot


def deployments_of(repo: Any, tag: str) -> list[dict[str, Any]]:
    """Every ledger event that involved this version, with its share after the event."""
    from gitmodelver.deploy.ledger import Ledger

    book = Ledger(repo)
    found = []
    for env in book.envs():
        for event in book.events(env):
            if event.get("version") == tag or tag in event.traffic:
                found.append(
                    {
                        "env": env,
                        "seq": event.seq,
                        "at": event.at,
                        "type": event.type,
                        "share": event.traffic.get(tag, 0),
                        "traffic": event.traffic,
                    }
                )
    return found


def describe(repo: Any, sys_: Any, release: versions.Release) -> dict[str, Any]:
    commit = repo.commit(release.commit)
    snap = tree_snapshot(repo.commit_tree(commit, release.tag), sys_)
    sig = signature.verify(repo, release)
    results = evaluation.load_results(snap.tree, snap.manifest.data, snap.manifest.base)
    gates = evaluation.gates_of(snap.manifest.data)
    evaluation_info: dict[str, Any] | None = None
    if results is not None:
        evaluation_info = {
            "path": results.path,
            "results": results.data,
            "problems": results.problems,
            "bound": results.subject == state_digest(snap.manifest.data),
            "gates": [
                {"metric": g.metric, "rule": g.rule, "value": g.value, "ok": g.ok}
                for g in evaluation.check_gates(gates, results.metrics)
            ],
        }
    return {
        "tag": release.tag,
        "version": str(release.version),
        "commit": release.commit,
        "date": output.when(release.time, release.offset),
        "tagger": release.tagger,
        "digest": release.digest,
        "state": release.state,
        "bump": release.bump,
        "previous": release.previous,
        "message": tagmsg.strip_signature(release.message),
        "manifest": snap.manifest.data,
        "signature": sig.as_json(),
        "evaluation": evaluation_info,
        "deployments": deployments_of(repo, release.tag),
    }


def run(args: argparse.Namespace) -> int:
    repo, sys_, release = open_version(args, args.version)
    info = describe(repo, sys_, release)
    if args.json:
        output.emit_json(info)
        return 0
    sig = info["signature"]
    output.say(f"{info['tag']}  ({info['bump']})")
    output.say(f"commit    {info['commit']}")
    output.say(f"date      {info['date']}  by {info['tagger']}")
    output.say(f"digest    {info['digest']}")
    output.say(f"state     {info['state']}")
    output.say(f"signature {sig['detail']}")
    if info["previous"]:
        output.say(f"previous  {info['previous']}")
    ev = info["evaluation"]
    if ev:
        bound = "bound to this state" if ev["bound"] else "NOT bound to this state"
        output.say(f"evaluation {ev['path']} ({bound})")
        for gate in ev["gates"]:
            output.say(
                f"  {'pass' if gate['ok'] else 'FAIL'} {gate['metric']} = {gate['value']} ({gate['rule']})"
            )
    for dep in info["deployments"]:
        output.say(f"deployed  {dep['env']} {dep['at'][:19]} {dep['type']} ({dep['share']:g}%)")
    output.say("")
    output.say(info["message"].rstrip())
    return 0
