from __future__ import annotations

import argparse
import re

from gitmodelver import advice, output
from gitmodelver.commands._arguments import open_system
from gitmodelver.core import digest
from gitmodelver.core.semver import InvalidVersion, Version
from gitmodelver.dvc import push
from gitmodelver.errors import CheckFailed, UsageError
from gitmodelver.gitstore import system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tagmsg import change_line
from gitmodelver.release import execute, plan

_NUMBERS = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _initial(args: argparse.Namespace, sys_: system.System, repo: Repo) -> Version | None:
    text: str | None = args.initial
    if text is None:
        return None
    try:
        version = Version.parse(text)
    except InvalidVersion as exc:
        meant = _meant(text)
        if meant is None:
            raise UsageError(f"--initial: {exc}, such as 0.1.0") from exc
        raise UsageError(f"--initial: {exc}", fix=_again(args, sys_, repo, meant)) from exc
    if version.build:
        raise UsageError(
            f"--initial {text}: build metadata would make a second tag of one version",
            fix=_again(args, sys_, repo, text.split("+")[0]),
        )
    return version


def _meant(text: str) -> str | None:
    """The version a short or zero-padded number stands for (``1.2`` is 1.2.0), if it is one."""
    found = _NUMBERS.fullmatch(text.strip())
    return ".".join(str(int(n or 0)) for n in found.groups()) if found else None


def _again(args: argparse.Namespace, sys_: system.System, repo: Repo, initial: str) -> str:
    """This release command again, with another ``--initial``."""
    words = ["release", "--initial", initial]
    options = {"-m": args.message, "--level": args.level, "--pre": args.pre, "--push": args.push}
    words += [word for option, value in options.items() if value for word in (option, value)]
    switches = {
        "--sign": args.sign is True,
        "--no-sign": args.sign is False,
        "--allow-stale": args.allow_stale,
        "--dry-run": args.dry_run,
        "--json": args.json,
    }
    words += [switch for switch, on in switches.items() if on]
    several = len(system.discover(repo)) > 1
    return advice.modelver(*words, system=sys_.name if several else None)


def _nothing(p: plan.Plan) -> None:
    if p.unsynced is not None:
        raise CheckFailed(f"nothing to release: {p.unsynced.message}", fix=p.unsynced.fix)
    last = p.last.tag if p.last else "the start"
    raise CheckFailed(
        f"nothing to release: no change to {p.system.name} since {last} calls for one; change a component "
        "first (`git modelver status` shows what changed)"
    )


def run(args: argparse.Namespace) -> int:
    execute.check_message(args.message)
    repo, sys_ = open_system(args)
    p = plan.make(repo, sys_, level=args.level, pre=args.pre, initial=_initial(args, sys_, repo))
    if p.next is None:
        _nothing(p)
    execute.check_obstacles(p)
    execute.check_version(repo, p)
    execute.check_pipeline(p, args.allow_stale)
    notes = execute.check_evaluation(p.snapshot)
    if args.dry_run:
        if args.json:
            output.emit_json(
                {
                    "tag": p.tag,
                    "version": str(p.next),
                    "bump": p.level,
                    "dry_run": True,
                    # the pins are filled in as the release would write them; the version is no part of it
                    "digest": digest.version_digest(p.snapshot.data),
                    "state": p.snapshot.state,
                    "signed": execute.decide_signing(repo, p.snapshot, args.sign),
                    "changes": [c.as_json() for c in p.changes],
                    "notes": notes,
                }
            )
        else:
            output.say(f"would release {p.tag} ({p.level})")
            for change in p.changes:
                output.say(f"  {change.level:<6} {change_line(change)}")
        return 0
    outcome = execute.execute(repo, p, message=args.message, sign=args.sign, allow_stale=args.allow_stale)
    if args.push:
        push.push_release(repo, args.push, outcome.tag)  # DVC objects first, then branch and tag
    if args.json:
        output.emit_json({**outcome.as_json(), "recovered": outcome.recovered, "notes": notes})
        return 0
    for note in notes:
        output.warn(note)
    if outcome.recovered:
        output.warn(f"completed the interrupted release of {outcome.tag}")
    output.say(f"{outcome.tag} {outcome.digest}")
    return 0
