"""``git modelver hook NAME [FILES…]``: the entry points of .pre-commit-hooks.yaml and hooks/.

Kept light on purpose (SPEC §9): nothing here imports DVC, and jsonschema is loaded only when a staged
manifest has to be validated.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitmodelver import output
from gitmodelver.errors import ExitCode
from gitmodelver.guards import guard

if TYPE_CHECKING:
    from gitmodelver.gitstore.repo import Repo

# jsonschema imports optional format plugins when they are installed; rfc3987_syntax compiles dozens of
# lark grammars on import (about a second). Our schema asserts no formats, so a hook never needs it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

PRE_COMMIT_CHECKS = ("prompt-guard", "manifest", "no-raw-weights")
BLOCKED = {"pre-receive": "push rejected", "verify-tags": "push blocked", "pre-push": "push blocked"}


def _stdin() -> str | None:
    """git's list of refs, when there is one to read (never wait on a terminal)."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    text = sys.stdin.read()
    return text if text.strip() else None


def _pre_push(repo: Repo, name: str, files: Sequence[str]) -> list[str]:
    from gitmodelver.guards import server  # the push rules: pre-commit runs must not pay for importing them

    framework_remote = os.environ.get("PRE_COMMIT_REMOTE_NAME")
    if name == "verify-tags" and framework_remote:
        # pre-commit has already read git's list of refs and does not pass it on.
        return [str(r) for r in server.pre_push(repo, None, framework_remote)]
    remote = files[0] if files else None  # git passes the remote's name and URL to pre-push
    return [str(r) for r in server.pre_push(repo, _stdin(), remote)]


def problems_of(args: argparse.Namespace) -> list[str]:
    name: str = args.name
    if name == "pre-receive":
        from gitmodelver.gitstore.repo import Repo
        from gitmodelver.guards import server

        repo = Repo(args.directory, bare_ok=True)
        return [str(r) for r in server.pre_receive(repo, sys.stdin.read())]
    if name in ("verify-tags", "pre-push"):
        from gitmodelver.gitstore.repo import Repo  # the push rules read tags through pygit2

        return _pre_push(Repo(args.directory), name, args.files)
    checks = PRE_COMMIT_CHECKS if name == "pre-commit" else (name,)
    # the staged state through git's own commands: a commit does not wait for pygit2 to load
    return [str(p) for p in guard.run(args.directory, checks, args.files)]


def run(args: argparse.Namespace) -> int:
    problems = problems_of(args)
    if not problems:
        return int(ExitCode.OK)
    for line in problems:
        output.warn(line)
    what = BLOCKED.get(args.name, "commit blocked")
    output.warn(f"modelver: {what} by {args.name} ({len(problems)} problem(s))")
    return int(ExitCode.CHECK_FAILED)
