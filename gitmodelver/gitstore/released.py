"""The version a system's manifest should say: that of the last release the next commit will contain.

``release`` writes ``system.version`` in commits it makes itself (without running hooks); anything else
that changes it is a hand edit. ``lock`` puts it back and the pre-commit hook refuses it, both by the
rules here.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pygit2

from gitmodelver.gitstore import versions
from gitmodelver.gitstore.repo import Repo


def tips(repo: Repo) -> list[pygit2.Oid]:
    """HEAD, and during a merge the commits being merged: the parents of the next commit."""
    head = repo.head()
    found = [head.id] if head is not None else []
    with contextlib.suppress(pygit2.GitError):  # an unreadable MERGE_HEAD: judge from HEAD alone
        found += list(repo.git.listall_mergeheads())
    return found


def _contains(repo: Repo, tip: pygit2.Oid, commit: str) -> bool:
    try:
        return repo.is_ancestor(pygit2.Oid(hex=commit), tip)
    except (KeyError, ValueError, pygit2.GitError):
        return False  # a shallow clone may hold the tag but not its commit


def last_release(repo: Repo, name: str) -> versions.Release | None:
    """The highest release of ``name`` that HEAD (or a commit being merged) contains."""
    heads = tips(repo)
    for release in versions.list_releases(repo, name):  # highest first
        if any(_contains(repo, tip, release.commit) for tip in heads):
            return release
    return None


def version_of(data: Any) -> str | None:
    """``system.version`` of parsed manifest data, read without validation."""
    system = data.get("system") if isinstance(data, dict) else None
    version = system.get("version") if isinstance(system, dict) else None
    return version if isinstance(version, str) else None


def allowed(repo: Repo, name: str, committed: str | None) -> set[str | None]:
    """The values a commit may give ``system.version``: HEAD's, or the last release's.

    No version line counts as the last release's when there is none: removing a version written by hand
    before the first release is how that mistake is undone.
    """
    release = last_release(repo, name)
    return {committed, str(release.version) if release is not None else None}


def restored(repo: Repo, name: str, committed: str | None, current: str | None) -> str | None:
    """What ``lock`` sets ``system.version`` to: the last release's version; without a release in reach
    (none yet, or no tags fetched) the current one when it is HEAD's or absent, else HEAD's.

    A clone without tags must not see its version line removed or changed by every ``lock``.
    """
    release = last_release(repo, name)
    if release is not None:
        return str(release.version)
    return current if current in (committed, None) else committed
