from __future__ import annotations

import argparse

from gitmodelver import output, verify, versions
from gitmodelver.commands import open_system
from gitmodelver.errors import UsageError
from gitmodelver.repo import Repo
from gitmodelver.system import System


def _targets(repo: Repo, sys_: System, args: argparse.Namespace) -> list[versions.Release]:
    releases = versions.list_releases(repo, sys_.name)
    if not releases:
        raise UsageError(f"{sys_.name} has no releases yet", fix="run `git modelver release`")
    if args.all:
        return releases
    if args.versions:
        return [versions.find(releases, sys_.name, v) for v in args.versions]
    head = repo.head()
    last = versions.last_release(repo, releases, head.id if head is not None else None)
    return [last or releases[0]]


def _print(reports: list[verify.VersionReport]) -> None:
    for report in reports:
        output.say(f"{report.tag}  {'ok' if report.ok else 'FAILED'}")
        for check in report.checks:
            output.say(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<11} {check.detail}")


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    releases = _targets(repo, sys_, args)
    reports = verify.verify_releases(
        repo,
        sys_,
        releases,
        remote=(args.dvc_remote or "") if args.remote or args.dvc_remote else None,
        deep=args.deep,
    )
    if args.json:
        output.emit_json({"ok": all(r.ok for r in reports), "versions": [r.as_json() for r in reports]})
    else:
        _print(reports)
    failure = verify.summary(reports)
    if failure is not None:
        raise failure
    return 0
