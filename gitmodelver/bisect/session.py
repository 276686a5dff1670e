"""A bisect session (SPEC §6): versions probed in one reused worktree, then, with components, the step
from the last good to the first bad version taken apart by delta debugging over hybrid states."""

from __future__ import annotations

import dataclasses
import difflib
import posixpath
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gitmodelver import output
from gitmodelver.bisect import ddmin, evidence, hybrid, probe, search
from gitmodelver.core import manifest
from gitmodelver.core.diff import Change, bump_level, diff, policy_overrides
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import Snapshot, System, tree_snapshot
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.release import plan

DIFF_LINES = 40
OUTCOMES = {
    search.Verdict.GOOD: ddmin.Result.PASS,
    search.Verdict.BAD: ddmin.Result.FAIL,
    search.Verdict.SKIP: ddmin.Result.UNRESOLVED,
}


@dataclass
class Session:
    """One bisect: the command, the worktree it runs in, and the log of every run."""

    repo: Repo
    system: System
    argv: list[str]
    weights: bool
    workspace: probe.Workspace
    log: probe.StepLog
    steps: list[dict[str, Any]] = field(default_factory=list)
    metric: str | None = None  # set: each run's output is read for this metric (a noisy evaluation)

    def run(self, kind: str, label: str, commit: str, state: str, extra: dict[str, str]) -> probe.Run:
        """Run the command on what the worktree now holds, and log it (before any verdict is acted on)."""
        number = len(self.steps) + 1
        env = {
            "MODELVER_VERSION": label,
            "MODELVER_DIGEST": state,
            "MODELVER_WORKTREE": str(self.workspace.path),
            **extra,
        }
        entry: dict[str, Any] = {
            "n": number,
            "kind": kind,
            "version": label,
            "commit": commit,
            "digest": state,
        }
        if "MODELVER_SEED" in extra:
            entry.update(seed=int(extra["MODELVER_SEED"]), repeat=int(extra["MODELVER_REPEAT"]))
        result = probe.run(self.argv, self.workspace.cwd(), env, self.log.output_file(number), label)
        entry.update(exit=result.code, verdict=result.verdict.value, seconds=round(result.seconds, 3))
        if "MODELVER_HYBRID" in extra:
            entry["changes"] = extra["MODELVER_HYBRID"].split(",") if extra["MODELVER_HYBRID"] else []
        if self.metric is not None and result.verdict is not search.Verdict.SKIP:
            result = self._measure(result, entry, label)
        self.steps.append(entry)
        self.log.write({"event": "step", **entry, "output": result.tail})
        return result

    def _measure(self, result: probe.Run, entry: dict[str, Any], label: str) -> probe.Run:
        """Read the metric from the run's output; a run without it stops the bisect (its output kept)."""
        assert self.metric is not None
        out = self.log.output_file(entry["n"])
        try:
            seen = evidence.read(out.read_text("utf-8", "replace"), self.metric)
        except evidence.Unreadable as exc:
            entry.update(verdict="unreadable", error=str(exc))
            self.steps.append(entry)
            self.log.write({"event": "step", **entry, "output": result.tail})
            said = f"exit {result.code}" + (f": {result.tail.splitlines()[-1]}" if result.tail else "")
            raise UsageError(
                f"`{probe.display(self.argv)}` on {label} {exc} ({said}); print one JSON line such as "
                f'{{"{self.metric}": 0.81}} per run (its output: {out})'
            ) from exc
        entry.update(verdict="measured", metric=seen.as_json())
        return dataclasses.replace(result, observation=seen)

    def version(self, release: Release, kind: str, extra: dict[str, str] | None = None) -> probe.Run:
        self.workspace.reset(release.commit)
        if self.weights:
            self.workspace.checkout_weights(self._manifest())
        state = release.state or tree_snapshot(self.tree(release), self.system).state
        return self.run(kind, release.tag, release.commit, state, dict(extra or {}))

    def hybrid(
        self, good: Release, bad: Snapshot, chosen: Sequence[hybrid.Unit], extra: dict[str, str] | None = None
    ) -> probe.Run:
        self.workspace.reset(good.commit)
        state = hybrid.apply(self.workspace.path, self.system.file, bad, chosen)
        if self.weights:
            self.workspace.checkout_weights(self._manifest())
        env = {"MODELVER_HYBRID": ",".join(u.path for u in chosen), **(extra or {})}
        return self.run("hybrid", f"{good.tag}+hybrid", good.commit, state, env)

    def _manifest(self) -> manifest.Manifest:
        text = (self.workspace.path / self.system.file).read_text("utf-8")
        return manifest.parse(text, self.system.file, trusted=True)

    def tree(self, release: Release) -> CommitTree:
        return self.repo.commit_tree(self.repo.commit(release.commit), release.tag)


def count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def span(releases: Sequence[Release], good: Release, bad: Release) -> list[Release]:
    """The versions from ``good`` to ``bad`` inclusive, in SemVer order."""
    low, high = good.version.precedence_key, bad.version.precedence_key
    if low >= high:
        raise UsageError(
            f"--good {good.tag} is not older than --bad {bad.tag}: --good takes a version where the command "
            "passes, --bad a later one where it fails"
        )
    chosen = [r for r in releases if low <= r.version.precedence_key <= high]
    return sorted(chosen, key=lambda r: r.version.precedence_key)


class Judge(Protocol):
    """How a state is judged good or bad: by one exit code, or statistically by a metric."""

    def ends(self, good: Release, bad: Release) -> bool:
        """Check both ends; False when there is no regression to bisect (raises when an end is wrong)."""
        ...

    def version(self, release: Release) -> search.Verdict: ...

    def hybrid(
        self, good: Release, bad: Snapshot, chosen: Sequence[hybrid.Unit], state: str
    ) -> ddmin.Result: ...

    def skipped(self) -> list[str]:
        """The versions stepped around: could not be tested, or (by a metric) left undecided."""
        ...

    def report(self, result: dict[str, Any], last_good: Release | None, first_bad: Release | None) -> None:
        """Add what this way of judging knows to the result."""
        ...


@dataclass
class ExitCodes:
    """One run per state, read like ``git bisect run``: 0 good, 125 skip, 1-127 bad."""

    session: Session

    def ends(self, good: Release, bad: Release) -> bool:
        _check_end(self.session, good, search.Verdict.GOOD, "--good")
        _check_end(self.session, bad, search.Verdict.BAD, "--bad")
        return True

    def version(self, release: Release) -> search.Verdict:
        return self.session.version(release, "version").verdict

    def hybrid(self, good: Release, bad: Snapshot, chosen: Sequence[hybrid.Unit], state: str) -> ddmin.Result:
        return OUTCOMES[self.session.hybrid(good, bad, chosen).verdict]

    def skipped(self) -> list[str]:
        return [s["version"] for s in self.session.steps if s["verdict"] == "skip"]

    def report(self, result: dict[str, Any], last_good: Release | None, first_bad: Release | None) -> None:
        return None


def _check_end(session: Session, release: Release, want: search.Verdict, flag: str) -> None:
    result = session.version(release, f"check-{want.value}")
    if result.verdict is want:
        return
    said = f" ({result.tail.splitlines()[-1]})" if result.tail else ""
    log = session.log.output_file(len(session.steps))
    if result.code in (126, 127):
        raise UsageError(
            f"`{probe.display(session.argv)}` cannot run on {release.tag}: exit {result.code}{said}; make it "
            f"runnable there (its output: {log})"
        )
    if result.verdict is search.Verdict.SKIP:
        problem = "cannot be tested (the command exited 125)"
    elif want is search.Verdict.GOOD:
        problem = f"is not good: the command exited {result.code}{said}"
    else:
        problem = "is not bad: the command exited 0"
    wanted = "passes" if want is search.Verdict.GOOD else "fails"
    raise UsageError(
        f"{flag} {release.tag} {problem}; pass a {flag} version where it {wanted} (its output: {log})"
    )


def _search(versions_: list[Release], judge: Judge) -> search.Outcome:
    def progress(index: int, left: int, steps: int) -> None:
        output.step(
            f"bisect: {count(left, 'version')} left, about {count(steps, 'step')}; "
            f"testing {versions_[index].tag}"
        )

    return search.search(len(versions_), lambda index: judge.version(versions_[index]), progress)


def _isolate(
    session: Session, judge: Judge, good: Release, bad: Release, units: list[hybrid.Unit]
) -> dict[str, Any]:
    """ddmin over hybrids of ``good`` with subsets of ``units``: the minimal change that turns it bad."""
    good_snap, bad_snap = (tree_snapshot(session.tree(r), session.system) for r in (good, bad))

    def key(subset: ddmin.Subset) -> Hashable:
        return hybrid.state(good_snap.data, bad_snap.data, [units[i] for i in subset])

    # The empty subset is the good version and the full one the bad version: both already judged.
    known = {key(()): ddmin.Result.PASS, key(tuple(range(len(units)))): ddmin.Result.FAIL}

    def test(subset: ddmin.Subset) -> ddmin.Result:
        chosen = [units[i] for i in subset]
        paths = ", ".join(u.path for u in chosen)
        output.step(f"isolate: testing {len(chosen)} of {len(units)} changes: {paths}")
        return judge.hybrid(good, bad_snap, chosen, str(key(subset)))

    found = ddmin.ddmin(len(units), test, key, known)
    culprits = [units[i] for i in found.culprits]
    return {
        "outside_manifest": _outside(session.repo, session.system, (good_snap, bad_snap), good, bad),
        "culprits": [u.path for u in culprits],
        "level": bump_level(c for u in culprits for c in u.changes),
        "details": [_culprit(session, good_snap, bad_snap, u) for u in culprits],
        "units": [u.path for u in units],
        "runs": sum(1 for s in session.steps if s["kind"] == "hybrid"),
        "states": len(found.tested),
        "memo_hits": found.memo_hits,
    }


def _culprit(session: Session, good: Snapshot, bad: Snapshot, unit: hybrid.Unit) -> dict[str, Any]:
    return {
        "path": unit.path,
        "level": unit.level,
        "changes": [c.as_json() for c in unit.changes],
        "diff": _file_diff(session.system, good, bad, unit),
    }


def _file_diff(system: System, good: Snapshot, bad: Snapshot, unit: hybrid.Unit) -> str | None:
    """A unified diff of a Git-tracked file component (prompts and the like), when it is text."""
    refs = {p.ref.key: p for p in bad.pins}
    old_refs = {p.ref.key: p for p in good.pins}
    pin = refs.get(unit.key) or old_refs.get(unit.key)
    if pin is None or pin.ref.kind != "path":
        return None
    old_pin, new_pin = old_refs.get(unit.key), refs.get(unit.key)
    old = good.tree.read(old_pin.file or old_pin.repo_path) if old_pin else b""  # a link's target
    new = bad.tree.read(new_pin.file or new_pin.repo_path) if new_pin else b""
    try:
        a, b = (old or b"").decode("utf-8"), (new or b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = list(
        difflib.unified_diff(
            a.splitlines(),
            b.splitlines(),
            f"{good.label}:{old_pin.repo_path if old_pin else '/dev/null'}",
            f"{bad.label}:{new_pin.repo_path if new_pin else '/dev/null'}",
            lineterm="",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… {len(lines) - DIFF_LINES} more lines"]
    return "\n".join(lines)


def _outside(
    repo: Repo, system: System, snaps: tuple[Snapshot, Snapshot], a: Release, b: Release
) -> list[str]:
    """Files that changed between the versions but that no manifest reference names.

    Hybrids keep the good version's copies of these, so a cause hiding there cannot be isolated.
    """
    named = {system.file} | {p.repo_path for snap in snaps for p in snap.pins}
    changed = repo.commit(a.commit).tree.diff_to_tree(repo.commit(b.commit).tree)
    paths = {d.new_file.path for d in changed.deltas} | {d.old_file.path for d in changed.deltas}
    return sorted(p for p in paths if p not in named and posixpath.basename(p) != "dvc.lock")


def _changes(repo: Repo, system: System, good: Release, bad: Release) -> list[Change]:
    old, new = (plan.released_data(repo, r, system) for r in (good, bad))
    return diff(old, new, policy_overrides(new))


def execute(
    session: Session, versions_: list[Release], components: bool, judge: Judge | None = None
) -> dict[str, Any]:
    judge = judge if judge is not None else ExitCodes(session)
    good, bad = versions_[0], versions_[-1]
    output.step(f"bisect: {len(versions_)} versions from {good.tag} to {bad.tag}; checking both ends")
    result: dict[str, Any] = {
        "system": session.system.name,
        "command": session.argv,
        "good": good.tag,
        "bad": bad.tag,
        "versions": len(versions_),
    }
    if not judge.ends(good, bad):
        result.update(last_good=None, first_bad=None, candidates=[], skipped=[], changes=[], culprits=[])
        judge.report(result, None, None)
        result.update(runs=len(session.steps), steps=session.steps)
        return result
    outcome = _search(versions_, judge)
    last_good, first_bad = versions_[outcome.last_good], versions_[outcome.first_bad]
    result.update(
        last_good=last_good.tag,
        first_bad=None if outcome.ambiguous else first_bad.tag,
        candidates=[versions_[i].tag for i in outcome.candidates],
        skipped=judge.skipped(),
        changes=[],
        culprits=[],
    )
    if outcome.ambiguous and components:
        result["note"] = "--components needs one first bad version; skips left a range"
    if not outcome.ambiguous:
        changes = _changes(session.repo, session.system, last_good, first_bad)
        result["bump"] = bump_level(changes)
        result["changes"] = [c.as_json() for c in changes]
        if components:
            sides = [plan.released_data(session.repo, r, session.system) for r in (last_good, first_bad)]
            units = hybrid.units(sides[0], sides[1], changes)
            result["components"] = _isolate(session, judge, last_good, first_bad, units) if units else None
            result["culprits"] = result["components"]["culprits"] if units else []
    judge.report(result, None if outcome.ambiguous else last_good, None if outcome.ambiguous else first_bad)
    result["runs"] = len(session.steps)
    result["steps"] = session.steps
    return result
