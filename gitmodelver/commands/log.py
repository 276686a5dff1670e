from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output, signature, tagmsg, versions
from gitmodelver.commands import open_system
from gitmodelver.digest import short


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    releases = versions.list_releases(repo, sys_.name)
    if args.limit is not None:
        releases = releases[: max(args.limit, 0)]
    sigs = signature.verify_cached(repo, releases)
    rows: list[dict[str, Any]] = []
    for r in releases:
        sig = sigs[r.tag]
        rows.append(
            {
                "tag": r.tag,
                "version": r.tag[len(sys_.name) + 2 :],
                "date": output.when(r.time, r.offset),
                "bump": r.bump,
                "commit": r.commit,
                "digest": r.digest,
                "state": r.state,
                "signed": sig.signed,
                "signer": sig.signer,
                "verified": sig.verified,
                "summary": tagmsg.summary(r.message),
            }
        )
    if args.json:
        output.emit_json(rows)
        return 0
    if not rows:
        output.say(f"{sys_.name}: no releases yet (make one with `git modelver release`)")
    for row in rows:
        mark = "verified" if row["verified"] else ("BAD SIGNATURE" if row["signed"] else "unsigned")
        who = f" by {row['signer']}" if row["signer"] else ""
        output.say(
            f"{row['tag']:<28} {(row['date'] or '')[:19]}  {row['bump'] or '-':<7} "
            f"{mark}{who}  {short(row['digest'])}  {row['summary']}"
        )
    return 0
