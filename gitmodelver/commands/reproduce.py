from __future__ import annotations

import argparse
from pathlib import Path

from gitmodelver import output
from gitmodelver.commands._arguments import open_version
from gitmodelver.dvc import reproduce
from gitmodelver.errors import CheckFailed


def run(args: argparse.Namespace) -> int:
    repo, sys_, release = open_version(args, args.version)
    dest = (Path(args.directory) / args.to).resolve()  # like git: relative to -C PATH
    result = reproduce.reproduce(
        repo,
        sys_,
        release,
        dest,
        weights=not args.no_weights,
        remote=args.remote,
        deep=args.deep,
        say=output.warn,
    )
    signatures = _attestations(args, result) if args.attestations else []
    if args.json:
        output.emit_json({**result.as_json(), **({"attestations": signatures} if args.attestations else {})})
    else:
        output.say(f"{result.tag} -> {result.dir} (commit {result.commit[:12]})")
        for path in signatures:
            output.say(f"  attestation  {path}")
        for w in result.weights:
            files = f"{w.files} files" if w.files != 1 else "1 file"
            output.say(f"  {w.ref:<18} {w.path}  {files}, {output.size(w.size)}, {w.link}")
        for check in result.report.checks:
            output.say(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<12} {check.detail}")
    if not result.ok:
        failed = result.report.failures[0]
        raise CheckFailed(
            f"{result.tag} was materialized in {result.dir} but did not verify: "
            f"{failed.name}: {failed.detail}"
        )
    return 0


def _attestations(args: argparse.Namespace, result: reproduce.Reproduction) -> list[str]:
    from gitmodelver.attest import branch
    from gitmodelver.gitstore.repo import Repo

    written = branch.export(Repo(args.directory), result.tag, result.dir)
    if not written:
        output.warn(f"{result.tag} has no attestation (`git modelver attest {result.tag}` makes one)")
    return [str(p) for p in written]
