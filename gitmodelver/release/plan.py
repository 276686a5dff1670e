"""What the next release would be: changes since the last one, their level, the next version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pygit2

from gitmodelver import advice
from gitmodelver.core import manifest, pipeline
from gitmodelver.core.diff import Change, bump_level, diff, policy_overrides
from gitmodelver.core.pipeline import Stale
from gitmodelver.core.semver import InvalidVersion, Version, level_rank
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import released, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import Snapshot, System, in_tree, worktree_snapshot
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release

DEFAULT_INITIAL = Version(1, 0, 0)


@dataclass(frozen=True)
class Obstacle:
    """Something in the repository that stands in a release's way, and the command that removes it (when
    one command can)."""

    message: str
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


@dataclass(frozen=True)
class Plan:
    system: System
    snapshot: Snapshot
    catalog: versions.Catalog  # every version tag of the system, listed when needed
    last: Release | None  # the highest release reachable from HEAD
    changes: list[Change]  # since ``last``
    required: str | None  # the level the changes demand
    level: str | None  # the level that will be used
    next: Version | None  # None: nothing to release
    head: pygit2.Oid | None = None
    notes: list[str] = field(default_factory=list)
    taken: Obstacle | None = None  # the tag of ``next`` exists outside HEAD's history
    unsynced: Obstacle | None = None  # the manifest file lags behind HEAD's release commit
    stale: tuple[Stale, ...] = ()  # pipeline stages whose dvc.lock record the tree no longer matches

    @property
    def tag(self) -> str | None:
        return f"{self.system.name}@v{self.next}" if self.next else None


def released_data(repo: Repo, release: Release, system: System) -> dict[str, Any]:
    """The manifest as it was released (its pins as recorded)."""
    tree = repo.commit_tree(repo.commit(release.commit), release.tag)
    m = manifest.load_tree(tree, system.file, trusted=True)
    if m is None:
        raise no_manifest(repo, release, system, tree)
    return m.data


def no_manifest(
    repo: Repo,
    release: Release,
    system: System,
    tree: CommitTree,
    moved: str = "changes are not compared across a moved manifest; move the system back to where that "
    "release has it to compare",
) -> UsageError:
    """A release that has no manifest where the system keeps it today: say where it has one, if anywhere."""
    found = in_tree(repo, tree, system.name)
    if found is None:
        return UsageError(
            f"{release.tag} has no {system.file}, nor any manifest of {system.name}: "
            f"`git modelver verify {release.tag}` says what is wrong with it"
        )
    return UsageError(
        f"{release.tag} has no {system.file}: that release keeps it at {found[0].file}, and {moved}"
    )


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
            f"--level {asked} is lower than the {required} the changes demand: use --level {required}, or "
            "drop --level"
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
    if pre is not None:
        _check_label(pre)
    snap = worktree_snapshot(repo, system)
    head = repo.head()
    head_id = head.id if head is not None else None
    catalog = versions.Catalog(repo, system.name)
    last = released.last_of(repo, system.name, [head_id]) if head_id is not None else None
    if last is None:
        changes = diff(None, snap.data, policy_overrides(snap.data))
        core = initial or DEFAULT_INITIAL
        nxt = core.with_pre(pre, _next_pre(catalog.all, core, pre)) if pre else core
        plan = Plan(system, snap, catalog, None, changes, None, level or "initial", nxt, head_id)
    else:
        plan = _after(repo, Plan(system, snap, catalog, last, [], None, None, None, head_id), level, pre)
    stale = tuple(pipeline.stale_stages(snap.tree, pipeline.folders_up(system.base)))
    return _obstacles(repo, replace(plan, stale=stale))


def _after(repo: Repo, plan: Plan, level: str | None, pre: str | None) -> Plan:
    """The plan once there is a release: the changes since it, and the version they call for."""
    last = plan.last
    assert last is not None
    overrides = policy_overrides(plan.snapshot.data)
    changes = diff(released_data(repo, last, plan.system), plan.snapshot.data, overrides)
    required = bump_level(changes)
    plan = replace(plan, changes=changes, required=required)
    if not last.version.is_prerelease:
        if required is None:  # no change, or only changes to how we release: no release
            return plan
        lvl = _raise_to(required, level) or required
        core = last.version.bump(lvl)
    else:
        if required is None and pre is not None and last.version.pre[:1] == (pre,):
            return plan  # nothing new for the same pre-release series
        lvl, core = _series_core(repo, plan, level, overrides)
    nxt = core.with_pre(pre, _next_pre(plan.catalog.all, core, pre)) if pre else core
    _check_ascending(plan, nxt, pre)
    return replace(plan, level=lvl, next=nxt)


def _series_core(
    repo: Repo, plan: Plan, level: str | None, overrides: Mapping[str, str]
) -> tuple[str, Version]:
    """A pre-release series converges on one final version, measured against the last final release."""
    last = plan.last
    assert last is not None
    reachable = versions.iter_reachable(repo, plan.catalog.all, plan.head)
    final = next((r for r in reachable if not r.version.is_prerelease), None)
    since_final = (
        bump_level(diff(released_data(repo, final, plan.system), plan.snapshot.data, overrides))
        if final
        else None
    )
    lvl = _raise_to(since_final, level) or "patch"
    core = final.version.bump(lvl) if final else last.version.core
    return lvl, max(core, last.version.core, key=lambda v: v.precedence_key)


def _check_label(pre: str) -> None:
    try:
        DEFAULT_INITIAL.with_pre(pre, 1)
    except (ValueError, InvalidVersion) as exc:
        raise UsageError(
            f"--pre {pre!r} is not a pre-release label: use one word of letters, digits and '-' that is not "
            "a number, such as --pre rc (the number is counted for you: rc -> rc.1, rc.2, …)"
        ) from exc


def _check_ascending(plan: Plan, nxt: Version, pre: str | None) -> None:
    """Versions only go up: ``--pre beta`` after ``rc.1`` of the same version would sort before it."""
    last = plan.last
    assert last is not None
    if nxt > last.version:
        return
    label = last.version.pre[0] if last.version.pre else None
    instead = f"use --pre {label} (or a label that sorts after it), or drop --pre" if label else "drop --pre"
    raise UsageError(
        f"--pre {pre} would make {plan.system.name}@v{nxt}, which comes before the last release {last.tag}: "
        + instead
    )


# --------------------------------------------------------------------------- what stands in the way


def _obstacles(repo: Repo, plan: Plan) -> Plan:
    taken = _taken(repo, plan) if plan.next is not None else None
    unsynced = _unsynced(repo, plan) if plan.next is None else None
    notes = [str(o) for o in (taken, unsynced) if o is not None]
    if plan.next is not None and taken is None and _existing(plan) is not None:
        notes.append(f"{plan.tag} exists from an interrupted release: `git modelver release` completes it")
    return replace(plan, taken=taken, unsynced=unsynced, notes=[*plan.notes, *notes])


def _existing(plan: Plan) -> Release | None:
    return plan.catalog.named(plan.tag) if plan.tag is not None else None


def interrupted(repo: Repo, plan: Plan, commit: pygit2.Commit) -> bool:
    """Whether ``commit``, tagged with ``plan.tag``, is this release made by an earlier run that died
    before moving the branch: its parent is HEAD and its manifest already says the version."""
    if plan.head is None or list(commit.parent_ids) != [plan.head]:
        return False
    m = manifest.load_tree(repo.commit_tree(commit, str(plan.tag)), plan.system.file, trusted=True)
    return m is not None and m.version == str(plan.next)


def _taken(repo: Repo, plan: Plan) -> Obstacle | None:
    """The tag of the next version, when it exists on a commit HEAD does not contain (and is not an
    interrupted run of this release): an abandoned release, or one made on another branch."""
    existing = _existing(plan)
    if existing is None:
        return None
    commit = repo.commit(existing.commit)
    if interrupted(repo, plan, commit):
        return None
    branches = _branches_with(repo, commit)
    where = f"on {', '.join(branches[:3])}" if branches else "on no branch"
    taken = (
        f"tag {existing.tag} already exists on commit {str(commit.id)[:12]} ({where}), which is not in "
        f"HEAD's history, so {existing.tag} cannot be released here"
    )
    delete = advice.command("git", "tag", "-d", existing.tag)
    if not branches:  # a release no branch kept: abandoned
        return Obstacle(f"{taken}; no branch holds that commit: an abandoned release", fix=delete)
    return Obstacle(
        f"{taken}: merge {branches[0]} to build on that release, or, if it was abandoned, delete its tag "
        f"({delete})"
    )


def _branches_with(repo: Repo, commit: pygit2.Commit) -> list[str]:
    refs = ("refs/heads", "refs/remotes")
    found = repo.run("for-each-ref", "--contains", str(commit.id), "--format=%(refname:short)", *refs)
    return found.out.split()


def _unsynced(repo: Repo, plan: Plan) -> Obstacle | None:
    """HEAD is the last release's commit, yet the manifest file differs from it only in pins and
    ``system.version``: a release moved the branch and died before writing the file."""
    last, file = plan.last, plan.system.file
    if last is None or plan.head is None or last.commit != str(plan.head):
        return None
    committed = repo.commit_tree(repo.commit(last.commit), "HEAD").read(file)
    if committed is None or repo.worktree().blob(file) == committed:
        return None
    if beyond_pins(released_data(repo, last, plan.system), plan.snapshot.manifest.data):
        return None
    return Obstacle(
        f"{file} differs from {last.tag} only in pins and system.version, which that release already "
        "wrote (it was interrupted before updating the file)",
        fix=advice.command("git", "checkout", "HEAD", "--", file),
    )


def beyond_pins(committed: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether two manifests differ in more than pins and ``system.version`` (what release writes)."""
    for change in diff(committed, current):
        leaf = change.path.rsplit(".", 1)[-1]
        if change.path != "system.version" and leaf not in ("sha256", "md5"):
            return True
    return False
