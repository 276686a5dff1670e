from __future__ import annotations

import argparse
import contextlib
import gc
import json
from collections.abc import Iterator
from pathlib import Path

from gitmodelver import advice, output
from gitmodelver.commands._arguments import version_of
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.release import verify

Targets = list[tuple[System, list[versions.Release]]]
COMPACT = 100  # more versions than this are printed as compact JSON


def _targets(repo: Repo, args: argparse.Namespace) -> Targets:
    """The releases to check, by system: those named, all of them, or the last one HEAD contains."""
    if args.versions:
        named = [version_of(repo, args.system, v) for v in args.versions]
        return [(sys_, [release]) for sys_, release in named]
    systems = system.select_all(repo, args.system)
    if args.all:  # read from the tag objects themselves: verify judges them
        return [(sys_, versions.list_releases(repo, sys_.name, indexed=False)) for sys_ in systems]
    return _last_reachable(repo, systems)


def _last_reachable(repo: Repo, systems: list[System]) -> Targets:
    head = repo.head()
    found: Targets = []
    released = False
    for sys_ in systems:
        releases = versions.list_releases(repo, sys_.name)
        released = released or bool(releases)
        last = versions.last_release(repo, releases, head.id if head is not None else None)
        found += [(sys_, [last])] if last is not None else []
    if found:
        return found
    names = ", ".join(s.name for s in systems)
    # --all checks every version wherever it is, and passes when there is none yet.
    every = advice.modelver("verify", "--all")
    if not released:
        raise UsageError(f"{names}: no releases yet (`git modelver release` makes the first)", fix=every)
    raise UsageError(
        f"no release of {names} is reachable from HEAD: name a version (`git modelver log` lists them), "
        "or check them all",
        fix=every,
    )


def _print(reports: list[verify.VersionReport]) -> None:
    if not reports:
        output.say("no releases yet: nothing to verify")
    for report in reports:
        output.say(f"{report.tag}  {'ok' if report.ok else 'FAILED'}")
        for check in report.checks:
            output.say(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<11} {check.detail}")


def _emit_json(reports: list[verify.VersionReport]) -> None:
    ok = all(r.ok for r in reports)
    if len(reports) <= COMPACT:
        output.emit_json({"ok": ok, "versions": [r.as_json() for r in reports]})
    elif all(r.text is not None for r in reports):  # written where they were made: joined as json.dumps would
        output.say(f'{{"ok": {json.dumps(ok)}, "versions": [{", ".join(r.line() for r in reports)}]}}')
    else:  # as `log` does for long lists: indenting ten thousand versions takes longer than checking them
        output.say(json.dumps({"ok": ok, "versions": [r.as_json() for r in reports]}, ensure_ascii=False))


@contextlib.contextmanager
def _no_collector_passes() -> Iterator[None]:
    """Checking ten thousand versions makes millions of small objects, nearly all kept to the end of the
    command and none in a cycle: the cycle collector's passes over them cost a tenth of the run."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _attested(
    repo: Repo, args: argparse.Namespace, targets: Targets, reports: list[verify.VersionReport]
) -> list[verify.VersionReport]:
    """Each version's attestations checked too (``attest.checking``)."""
    from gitmodelver.attest import checking

    folder = (Path(args.directory) / args.files).resolve() if args.files else None
    if folder is not None and not folder.is_dir():
        raise UsageError(
            f"--files {args.files}: no such folder (`git modelver reproduce VERSION --to DIR` makes one)"
        )
    return checking.with_attestations(
        repo,
        targets,
        reports,
        keys=args.attestation_key or [],
        folder=folder,
        required=args.require_attestation,
    )


def run(args: argparse.Namespace) -> int:
    with _no_collector_passes():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    remote = (args.dvc_remote or "") if args.remote or args.dvc_remote else None
    extra = None
    if remote is not None or args.deep:
        from gitmodelver.dvc import object_checks  # DVC only when its objects are asked about

        extra = object_checks.factory(remote, args.deep)
    targets = _targets(repo, args)
    reports = [
        report
        for sys_, releases in targets
        for report in verify.verify_releases(
            repo, sys_, releases, extra=extra, complete=args.all, lines=args.json and len(releases) > COMPACT
        )
    ]
    reports = _attested(repo, args, targets, reports)
    if args.json:
        _emit_json(reports)
    else:
        _print(reports)
    failure = verify.summary(reports)
    if failure is not None:
        raise failure
    return 0
