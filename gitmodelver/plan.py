"""What the next release would be: changes since the last one, their level, the next version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver import manifest, versions
from gitmodelver.diff import Change, bump_level, diff, policy_overrides
from gitmodelver.errors import UsageError
from gitmodelver.repo import Repo
from gitmodelver.semver import Version, level_rank
from gitmodelver.system import Snapshot, System, worktree_snapshot
from gitmodelver.versions import Release

DEFAULT_INITIAL = Version(1, 0, 0)


@dataclass(frozen=True)
class Plan:
    system: System
    snapshot: Snapshot
    releases: list[Release]  # every version tag of the system, highest first
    last: Release | None  # the highest release reachable from HEAD
    changes: list[Change]  # since ``last``
    required: str | None  # the level the changes demand
    level: str | None  # the level that will be used
    next: Version | None  # None: nothing to release
    head: pygit2.Oid | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str | None:
        return f"{self.system.name}@v{self.next}" if self.next else None


def released_data(repo: Repo, release: Release, system: System) -> dict[str, Any]:
    """The manifest as it was released (its pins as recorded)."""
    tree = repo.commit_tree(repo.commit(release.commit), release.tag)
    m = manifest.load_tree(tree, system.file, trusted=True)
    if m is None:
        raise UsageError(f"{release.tag} has no {system.file}", fix="pass --system for the right folder")
    return m.data


def _next_pre(releases: list[Release], core: Version, label: str) -> int:
    numbers = [
        r.version.pre[1]
        for r in releases
        if r.version.core == core and len(r.version.pre) == 2 and r.version.pre[0] == label
    ]
    return 1 + max((n for n in numbers if isinstance(n, int)), default=0)


def _raise_to(required: str | None, asked: str | None) -> str | None:
    if asked is None:
        return required
    if required is not None and level_rank(asked) < level_rank(required):
        raise UsageError(
            f"--level {asked} is lower than the {required} the changes demand",
            fix=f"drop --level or use --level {required}",
        )
    return asked


def make(
    repo: Repo,
    system: System,
    *,
    level: str | None = None,
    pre: str | None = None,
    initial: Version | None = None,
) -> Plan:
    snap = worktree_snapshot(repo, system)
    head = repo.head()
    head_id = head.id if head is not None else None
    releases = versions.list_releases(repo, system.name)
    last = versions.last_release(repo, releases, head_id)
    overrides = policy_overrides(snap.data)
    if last is None:
        changes = diff(None, snap.data, overrides)
        lvl = level or "initial"
        core = initial or DEFAULT_INITIAL
        nxt = core.with_pre(pre, _next_pre(releases, core, pre)) if pre else core
        return Plan(system, snap, releases, None, changes, None, lvl, nxt, head_id)
    changes = diff(released_data(repo, last, system), snap.data, overrides)
    required = bump_level(changes)
    if not last.version.is_prerelease:
        if required is None:  # no change, or only changes to how we release: no release
            return Plan(system, snap, releases, last, changes, required, None, None, head_id)
        lvl = _raise_to(required, level) or required
        core = last.version.bump(lvl)
    else:
        # A pre-release series converges on one final version, measured against the last final release.
        reachable = versions.iter_reachable(repo, releases, head_id)
        final = next((r for r in reachable if not r.version.is_prerelease), None)
        since_final = (
            bump_level(diff(released_data(repo, final, system), snap.data, overrides)) if final else None
        )
        lvl = _raise_to(since_final, level) or "patch"
        core = final.version.bump(lvl) if final else last.version.core
        core = max(core, last.version.core, key=lambda v: v.precedence_key)
        same_series = pre is not None and last.version.pre[:1] == (pre,)
        if required is None and same_series:
            return Plan(system, snap, releases, last, changes, required, None, None, head_id)
    nxt = core.with_pre(pre, _next_pre(releases, core, pre)) if pre else core
    return Plan(system, snap, releases, last, changes, required, lvl, nxt, head_id)
