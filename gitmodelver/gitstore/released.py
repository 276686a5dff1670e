"""The last release a commit contains, and the version a system's manifest should say: that of the last
release the next commit will contain.

``release`` writes ``system.version`` in commits it makes itself (without running hooks); anything else
that changes it is a hand edit. ``lock`` puts it back and the pre-commit hook refuses it, both by the
rules here.

Finding the last release means listing every version tag, which grows with history; ``status`` and the
hooks run far more often than tags change. So the answer is kept in the versions index (section
``last``), keyed by the commit asked about, under a scope that is the state of the tag refs' storage
(``packed-refs`` and ``refs/tags``: inode, size, modification time): any tag created, moved or deleted
changes that state and drops every answer. A kept answer is still checked against Git before it is
used: the tag must still point at the tag object it names, a release of the system on a commit the tip
contains. A state
that changed in the last second is not used at all: a second change within the clock's tick could leave
it looking the same (git's "racy" rule for its own index).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

import pygit2

from gitmodelver.gitstore import index
from gitmodelver.gitstore.repo import Repo

if TYPE_CHECKING:
    from gitmodelver.gitstore import versions


def tips(repo: Repo) -> list[pygit2.Oid]:
    """HEAD, and during a merge the commits being merged: the parents of the next commit."""
    head = repo.head()
    found = [head.id] if head is not None else []
    with contextlib.suppress(pygit2.GitError):  # an unreadable MERGE_HEAD: judge from HEAD alone
        found += list(repo.git.listall_mergeheads())
    return found


def last_release(repo: Repo, name: str) -> versions.Release | None:
    """The highest release of ``name`` that HEAD (or a commit being merged) contains."""
    return last_of(repo, name, tips(repo))


LAST = "last"
RACY_NS = 1_000_000_000
_UNKNOWN = object()


def last_of(repo: Repo, name: str, heads: list[pygit2.Oid]) -> versions.Release | None:
    """The highest release of ``name`` that one of ``heads`` contains (None: none does)."""
    if not heads:
        return None
    state = refs_state(repo)
    key = str(heads[0]) if len(heads) == 1 else None  # during a merge: computed, not kept
    section = index.Section(repo, LAST, state) if state is not None and key is not None else None
    kept = section.get(key) if section is not None and key is not None else None
    if isinstance(kept, dict) and name in kept:
        release = _confirmed(repo, name, kept[name], heads)
        if release is not _UNKNOWN:
            return release  # type: ignore[return-value]
    from gitmodelver.gitstore import versions  # the hooks come here only when system.version changed

    found = versions.highest_reachable(repo, name, heads)
    if section is not None and key is not None:
        answers = dict(kept) if isinstance(kept, dict) else {}
        answers[name] = [found.tag, found.target] if found is not None else None
        section.put(key, answers)
        section.save()
    return found


def _confirmed(repo: Repo, name: str, kept: Any, heads: list[pygit2.Oid]) -> object:
    """The release a kept answer names, once Git confirms it; ``_UNKNOWN`` when it cannot."""
    if kept is None:
        return None
    if not (isinstance(kept, list) and len(kept) == 2 and all(isinstance(k, str) for k in kept)):
        return _UNKNOWN
    tag, target = kept
    from gitmodelver.gitstore import versions

    release = versions.Catalog(repo, name).named(tag)  # the ref as it is now: one lookup, no listing
    if release is None or release.target != target:
        return _UNKNOWN
    if not any(versions.contains(repo, tip, release.commit) for tip in heads):
        return _UNKNOWN
    return release


def refs_state(repo: Repo) -> str | None:
    """The state of the tag refs' storage, or None when it changed too recently to be told apart."""
    common = repo.common_dir
    now = time.time_ns()
    parts = []
    for path in (common / "packed-refs", common / "refs" / "tags", common / "reftable"):
        try:
            st = os.stat(path)
        except OSError:
            parts.append("-")
            continue
        if now - st.st_mtime_ns < RACY_NS:
            return None
        parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "refs/1 " + " ".join(parts)


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
