"""What a command's arguments name: the repository, its systems, a version and a side of a diff."""

from __future__ import annotations

import argparse
from typing import Any

from gitmodelver.core.semver import parse_tag
from gitmodelver.gitstore import system, versions
from gitmodelver.gitstore.repo import Repo


def open_system(args: argparse.Namespace) -> tuple[Repo, system.System]:
    repo = Repo(args.directory)
    return repo, system.select(repo, args.system)


def open_for(args: argparse.Namespace, arg: str | None) -> tuple[Repo, system.System | None]:
    """For a version argument: a full tag ``NAME@vX.Y.Z`` needs no system chosen (it names its own)."""
    repo = Repo(args.directory)
    if args.system is None and arg is not None and parse_tag(arg.strip()) is not None:
        return repo, None
    return repo, system.select(repo, args.system)


def open_systems(args: argparse.Namespace) -> tuple[Repo, list[system.System]]:
    """The system named or implied, else every system here (for commands that read them all)."""
    repo = Repo(args.directory)
    return repo, system.select_all(repo, args.system)


def open_version(args: argparse.Namespace, arg: str) -> tuple[Repo, system.System, versions.Release]:
    """A version argument with its system: a full tag ``NAME@vX.Y.Z`` names its own system."""
    repo = Repo(args.directory)
    return (repo, *version_of(repo, args.system, arg))


def version_of(repo: Repo, name: str | None, arg: str) -> tuple[system.System, versions.Release]:
    """``arg`` resolved in the system it names, else in the system ``name`` (or the only one) here."""
    if parse_tag(arg.strip()) is not None:
        release = versions.resolve(repo, arg)
        return release_system(repo, release), release
    sys_ = system.select(repo, name)
    return sys_, versions.resolve(repo, arg, sys_.name)


def release_system(repo: Repo, release: versions.Release) -> system.System:
    """The system of a release, where its commit holds the manifest."""
    return system.of_release(repo, release.name, repo.commit(release.commit), release.tag)


def side(repo: Repo, sys_: system.System, arg: str) -> tuple[str, dict[str, Any]]:
    """A diff side: WORKTREE (pins as the files are now), HEAD or another revision, or a version."""
    from gitmodelver.release import plan

    if arg.upper() == "WORKTREE":
        return "WORKTREE", system.worktree_snapshot(repo, sys_).data
    releases = versions.list_releases(repo, sys_.name)
    if arg == "HEAD" or arg.startswith("HEAD~") or arg.startswith("HEAD^"):
        snap = system.tree_snapshot(repo.commit_tree(repo.commit(arg), arg), sys_)
        return arg, snap.data
    release = versions.find(releases, sys_.name, arg)
    return release.tag, plan.released_data(repo, release, sys_)
