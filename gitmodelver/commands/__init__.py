"""One module per command; each exposes ``run(args) -> int``."""

from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import system
from gitmodelver.repo import Repo


def open_system(args: argparse.Namespace) -> tuple[Repo, system.System]:
    repo = Repo(args.directory)
    return repo, system.select(repo, args.system)


def side(repo: Repo, sys_: system.System, arg: str) -> tuple[str, dict[str, Any]]:
    """A diff side: WORKTREE (pins as the files are now), HEAD or another revision, or a version."""
    from gitmodelver import plan, versions

    if arg.upper() == "WORKTREE":
        return "WORKTREE", system.worktree_snapshot(repo, sys_).data
    releases = versions.list_releases(repo, sys_.name)
    if arg == "HEAD" or arg.startswith("HEAD~") or arg.startswith("HEAD^"):
        snap = system.tree_snapshot(repo.commit_tree(repo.commit(arg), arg), sys_)
        return arg, snap.data
    release = versions.find(releases, sys_.name, arg)
    return release.tag, plan.released_data(repo, release, sys_)
