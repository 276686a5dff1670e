from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.commands import open_system
from gitmodelver.core import pins
from gitmodelver.gitstore.tagmsg import change_line
from gitmodelver.release import plan


def run(args: argparse.Namespace) -> int:
    repo, system = open_system(args)
    p = plan.make(repo, system)
    snap = p.snapshot
    stale = [pin.ref.pin_path for pin in snap.stale]
    missing = [pin.repo_path for pin in snap.missing]
    if args.json:
        output.emit_json(
            {
                "system": system.name,
                "last": p.last.tag if p.last else None,
                "next": p.tag,
                "bump": p.level if p.next else None,
                "changes": [c.as_json() for c in p.changes],
                "stale": stale,
                "missing": missing,
                "state": snap.state,
                "notes": p.notes,
            }
        )
        return 0
    last = p.last.tag if p.last else "no release yet"
    if p.next:
        output.say(f"{system.name}: last {last}; next {p.tag} ({p.level})")
    else:
        output.say(f"{system.name}: last {last}; nothing to release")
    for change in p.changes:
        output.say(f"  {change.level:<6} {change_line(change)}")
    if stale:
        output.say(f"stale pins ({len(stale)}), run `git modelver lock`:")
        for pin in snap.stale:
            output.say(f"  {pin.ref.pin_path}  ({pin.repo_path})")
    for pin in snap.missing:
        output.say(f"{pins.missing_message(system.file, pin)} (fix: {pins.MISSING_FIX})")
    for note in p.notes:
        output.say(f"note: {note}")
    return 0
