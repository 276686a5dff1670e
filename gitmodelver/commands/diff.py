from __future__ import annotations

import argparse

from gitmodelver import advice, output
from gitmodelver.commands._arguments import open_system, side
from gitmodelver.core.diff import bump_level, diff, policy_overrides
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.tagmsg import change_line
from gitmodelver.release import plan


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    if args.a is None:
        p = plan.make(repo, sys_)
        if p.last is None:
            # HEAD against the working tree is the diff there is before a first release.
            raise UsageError(
                f"{sys_.name} has no release yet to diff from: name the sides",
                fix=advice.modelver("diff", "HEAD", system=args.system),
            )
        a_label, a_data = p.last.tag, plan.released_data(repo, p.last, sys_)
        b_label, b_data = "WORKTREE", p.snapshot.data
    else:
        a_label, a_data = side(repo, sys_, args.a)
        b_label, b_data = side(repo, sys_, args.b or "WORKTREE")
    changes = diff(a_data, b_data, policy_overrides(b_data))
    bump = bump_level(changes)
    if args.json:
        output.emit_json(
            {"from": a_label, "to": b_label, "bump": bump, "changes": [c.as_json() for c in changes]}
        )
        return 0
    output.say(f"{a_label} -> {b_label}: {bump or 'no release needed'}")
    for change in changes:
        output.say(f"  {change.level:<6} {change_line(change)}")
    return 0
