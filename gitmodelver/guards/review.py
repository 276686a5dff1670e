"""What a pull request will release, for the people reviewing it: the level and the next version, every
component change (prompt text as a diff, parameters old -> new, weights by hash and size), evaluation
deltas against the last release, stale pipeline stages, whether the pre-commit checks hold on every commit
of the range (a contributor may not have installed the hooks), and what would stop ``release``.

Judged from Git and the working tree as ``release`` would judge it: run it on a checkout of the pull
request's head.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver.core import dvcfiles, evaluation
from gitmodelver.core.diff import Change
from gitmodelver.core.filerefs import FileRef, Tree, iter_file_refs, join
from gitmodelver.errors import ModelverError, UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.guards import globs
from gitmodelver.guards.guard import CHECKS
from gitmodelver.guards.staged import Staged
from gitmodelver.release import execute, plan

DEFAULT_BRANCHES = ("refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/remotes/origin/master")
LOCAL_DEFAULTS = ("refs/heads/main", "refs/heads/master")
MAX_DIFF_LINES = 400  # per prompt; the rest is counted, not shown


@dataclass(frozen=True)
class TextChange:
    """A prompt (or other text file the manifest pins) whose content changed."""

    key: str  # prompts.system
    path: str
    status: str  # added, removed, changed
    diff: list[str]  # unified diff lines, without the ---/+++ header
    added: int
    removed: int
    trimmed: int = 0  # diff lines not kept

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": self.path,
            "status": self.status,
            "added": self.added,
            "removed": self.removed,
            "diff": self.diff,
            "trimmed": self.trimmed,
        }


@dataclass(frozen=True)
class WeightsChange:
    key: str
    path: str
    old_md5: str | None
    new_md5: str | None
    old_size: int | None
    new_size: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": self.path,
            "old": {"md5": self.old_md5, "size": self.old_size},
            "new": {"md5": self.new_md5, "size": self.new_size},
        }


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    old: float | None
    new: float | None
    gate: str | None
    passed: bool | None  # None: no gate

    @property
    def delta(self) -> float | None:
        return self.new - self.old if self.old is not None and self.new is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
            "gate": self.gate,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class CommitCheck:
    commit: str
    subject: str
    problems: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "subject": self.subject,
            "ok": not self.problems,
            "problems": self.problems,
        }


@dataclass
class Review:
    system: str
    base: str
    head: str
    last: str | None
    next: str | None
    level: str | None
    changes: list[Change]
    prompts: list[TextChange] = field(default_factory=list)
    weights: list[WeightsChange] = field(default_factory=list)
    parameters: list[Change] = field(default_factory=list)
    metrics: list[MetricDelta] = field(default_factory=list)
    evaluation: str | None = None  # how the results are bound, or why they are not
    stale: list[str] = field(default_factory=list)
    commits: list[CommitCheck] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # what would stop `release`

    @property
    def ok(self) -> bool:
        return not self.refusals and all(not c.problems for c in self.commits)

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "base": self.base,
            "head": self.head,
            "last": self.last,
            "next": self.next,
            "bump": self.level,
            "ok": self.ok,
            "changes": [c.as_json() for c in self.changes],
            "prompts": [t.as_json() for t in self.prompts],
            "weights": [w.as_json() for w in self.weights],
            "parameters": [c.as_json() for c in self.parameters],
            "metrics": [m.as_json() for m in self.metrics],
            "evaluation": self.evaluation,
            "stale": self.stale,
            "commits": [c.as_json() for c in self.commits],
            "refusals": self.refusals,
        }


# --------------------------------------------------------------------------- the range


def base_commit(repo: Repo, base: str | None) -> pygit2.Commit:
    """``--base``, else the merge base of HEAD and the default branch (origin's, else main or master)."""
    head = repo.head()
    if head is None:
        raise UsageError("HEAD has no commit yet: nothing to review")
    other = repo.commit(base) if base is not None else _default_branch(repo)
    found = repo.git.merge_base(other.id, head.id)
    if found is None:
        raise UsageError(f"{base or 'the default branch'} and HEAD share no history: pass --base REF")
    return repo.git[found].peel(pygit2.Commit)


def _default_branch(repo: Repo) -> pygit2.Commit:
    for name in (*DEFAULT_BRANCHES, *LOCAL_DEFAULTS):
        ref = repo.git.references.get(name)
        if ref is not None:
            return ref.resolve().peel(pygit2.Commit)
    raise UsageError(
        "no default branch to compare with (origin/HEAD, origin/main, main or master): pass --base REF, "
        "for example --base origin/main"
    )


def commits_between(repo: Repo, base: pygit2.Commit, head: pygit2.Commit) -> list[pygit2.Commit]:
    """The commits of base..head, oldest first."""
    walker = repo.git.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(base.id)
    return list(walker)


def check_commits(repo: Repo, commits: list[pygit2.Commit]) -> list[CommitCheck]:
    """The pre-commit checks on what each commit holds against its first parent (merges included)."""
    found = []
    for commit in commits:
        st = Staged.of_commit(repo, commit)
        problems = [str(p) for name in CHECKS for p in CHECKS[name](st, ())]
        subject = (commit.message or "").split("\n", 1)[0].strip()
        found.append(CommitCheck(str(commit.id), subject, list(dict.fromkeys(problems))))
    return found


# --------------------------------------------------------------------------- what changes


def review(repo: Repo, system: System, base: str | None = None) -> Review:
    start = base_commit(repo, base)
    head = repo.head()
    assert head is not None
    p = plan.make(repo, system)
    snap = p.snapshot
    found = Review(
        system=system.name,
        base=str(start.id),
        head=str(head.id),
        last=p.last.tag if p.last else None,
        next=p.tag,
        level=p.level if p.next else None,
        changes=list(p.changes),
        stale=[str(s) for s in p.stale],
    )
    old_data: Mapping[str, Any] = {}
    old_tree: Tree | None = None
    if p.last is not None:
        old_data = plan.released_data(repo, p.last, system)
        old_tree = repo.commit_tree(repo.commit(p.last.commit), p.last.tag)
    files = {
        c.path.rsplit(".", 1)[0] for c in p.changes if c.path.endswith((".sha256", ".md5", ".path", ".dvc"))
    }
    files |= {c.path for c in p.changes if c.kind != "changed"}
    old_refs = {ref.dotted: ref for ref in iter_file_refs(old_data)}
    new_refs = {ref.dotted: ref for ref in iter_file_refs(snap.data)}
    patterns = globs.prompt_patterns(snap.manifest.policy)
    for key in sorted(set(old_refs) | set(new_refs)):
        if key not in files and not any(f.startswith(key + ".") or key.startswith(f + ".") for f in files):
            continue
        old, new = old_refs.get(key), new_refs.get(key)
        kind = (new or old).kind  # type: ignore[union-attr]
        base = snap.manifest.base
        if kind == "dvc":
            found.weights.append(_weights(key, old, new, old_tree, snap.tree, base))
        elif kind == "path" and _is_text(key, join(base, (new or old).target), patterns, base):  # type: ignore[union-attr]
            text = _text(key, old, new, old_tree, snap.tree, base)
            if text is not None:
                found.prompts.append(text)
    file_keys = set(old_refs) | set(new_refs)
    found.parameters = [
        c for c in p.changes if c.path != "system.version" and not _about_files(c.path, file_keys)
    ]
    found.metrics, found.evaluation = _metrics(old_tree, old_data, snap, system)
    found.commits = check_commits(repo, commits_between(repo, start, head))
    found.refusals = _refusals(repo, p)
    return found


def _about_files(path: str, keys: set[str]) -> bool:
    """Whether a change is a file reference's, or holds one (a whole table added or removed)."""
    return any(path == k or path.startswith(k + ".") or k.startswith(path + ".") for k in keys)


def _is_text(key: str, path: str, patterns: list[re.Pattern[str]], base: str) -> bool:
    return key.startswith("prompts.") or key.startswith("evaluation.") or globs.matches(patterns, path, base)


def _read(tree: Tree | None, ref: FileRef | None, base: str) -> tuple[str, bytes | None]:
    if ref is None or tree is None:
        return (join(base, ref.target) if ref is not None else ""), None
    path = join(base, ref.target)
    return path, tree.read(path)


def _text(
    key: str, old: FileRef | None, new: FileRef | None, old_tree: Tree | None, tree: Tree, base: str
) -> TextChange | None:
    old_path, before = _read(old_tree, old, base)
    new_path, after = _read(tree, new, base)
    if before == after:
        return None
    path = new_path or old_path
    a = (before or b"").decode("utf-8", "replace").splitlines()
    b = (after or b"").decode("utf-8", "replace").splitlines()
    lines = list(difflib.unified_diff(a, b, f"a/{old_path or path}", f"b/{path}", lineterm="", n=3))[2:]
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    status = "added" if before is None else "removed" if after is None else "changed"
    kept = lines[:MAX_DIFF_LINES]
    return TextChange(key, path, status, kept, added, removed, len(lines) - len(kept))


def _weights(
    key: str, old: FileRef | None, new: FileRef | None, old_tree: Tree | None, tree: Tree, base: str
) -> WeightsChange:
    def out(ref: FileRef | None, where: Tree | None) -> tuple[str | None, int | None, str]:
        if ref is None or where is None:
            return None, None, ""
        path = join(base, ref.target)
        try:
            outs = dvcfiles.pointer_outs(where, path)
        except ModelverError:
            outs = []
        size = sum(o.size or 0 for o in outs) if outs and all(o.size is not None for o in outs) else None
        return (ref.pin if isinstance(ref.pin, str) else None), size, path

    old_md5, old_size, old_path = out(old, old_tree)
    new_md5, new_size, new_path = out(new, tree)
    return WeightsChange(key, new_path or old_path, old_md5, new_md5, old_size, new_size)


def _metrics(
    old_tree: Tree | None, old_data: Mapping[str, Any], snap: Any, system: System
) -> tuple[list[MetricDelta], str | None]:
    """Each metric now and at the last release, with its gate."""
    base = snap.manifest.base
    now = _numbers(snap.tree, snap.data, base)
    before = _numbers(old_tree, old_data, base) if old_tree is not None else {}
    gates = evaluation.gates_of(snap.data)
    judged = {g.metric: g for g in evaluation.check_gates(gates, now)} if gates else {}
    assessed = evaluation.assess(snap.tree, snap.data, base, snap.state)
    binding = None if assessed is None else (assessed.problems[0] if assessed.problems else assessed.binding)
    names = sorted(set(now) | set(before) | set(gates))
    deltas = [
        MetricDelta(
            name,
            before.get(name),
            now.get(name),
            gates.get(name),
            judged[name].ok if name in judged else None,
        )
        for name in names
    ]
    return deltas, binding


def _numbers(tree: Tree | None, data: Mapping[str, Any], base: str) -> dict[str, float]:
    if tree is None:
        return {}
    for load in (evaluation.load_results, evaluation.load_metrics):
        try:
            found = load(tree, data, base)
        except (ModelverError, ValueError):
            found = None
        if found is not None and not found.problems:
            return {k: v for k, v in found.metrics.items() if isinstance(v, int | float)}
    return {}


def _refusals(repo: Repo, p: plan.Plan) -> list[str]:
    """What would stop `git modelver release` on this state, each in one line."""
    found: list[str] = []
    for check in _checks(repo, p):
        try:
            check()
        except ModelverError as exc:
            found.append(str(exc))
    snap = p.snapshot
    if snap.stale:
        pins = ", ".join(pin.ref.pin_path for pin in snap.stale)
        found.append(f"stale pins ({pins}): run `git modelver lock` and commit")
    if p.next is None:
        found.append("nothing to release: the manifest's components are the last release's")
    return found


def _checks(repo: Repo, p: plan.Plan) -> Iterator[Any]:
    yield lambda: execute.check_missing(repo, p.snapshot)
    yield lambda: execute.check_obstacles(p)
    yield lambda: execute.check_pipeline(p, False)
    yield lambda: execute.check_evaluation(p.snapshot)
