"""``status``: what changed since the last release, at which level, the next version, and everything that
stands in a release's way (stale pins, missing files, prompts the manifest does not name, a stale
pipeline). Exit 1 when the tree cannot be released as it is. Light: no DVC, no jsonschema once cached."""

from __future__ import annotations

import argparse
import posixpath

from gitmodelver import advice, output
from gitmodelver.commands import install_hooks
from gitmodelver.commands._arguments import open_system
from gitmodelver.core import pins
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import Snapshot, System
from gitmodelver.gitstore.tagmsg import change_line
from gitmodelver.guards import globs
from gitmodelver.release import plan


def unnamed_prompts(repo: Repo, system: System, snap: Snapshot) -> list[str]:
    """Files git sees (tracked, or untracked and not ignored) that match ``policy.prompt_globs`` but that no
    component names: the pre-commit hook would block committing them."""
    patterns = globs.prompt_patterns(snap.manifest.policy)
    if not patterns:
        return []  # no need to ask git for its files
    listed = repo.run("ls-files", "-z", "--cached", "--others", "--exclude-standard").out.split("\0")
    found = globs.unnamed(
        filter(None, listed), snap.manifest.data, system.file, system.base, snap.tree, patterns
    )
    return [path for path in found if (repo.root / path).is_file()]  # a deleted file is `missing`, not this


def hooks_state(repo: Repo) -> dict[str, bool]:
    """Whether the pre-commit and pre-push hooks of this clone run gitmodelver's checks."""
    folder = install_hooks.hooks_dir(repo)  # where git looks: core.hooksPath, a linked worktree's common dir
    config = repo.root / ".pre-commit-config.yaml"
    framework = config.is_file() and "modelver-" in config.read_text("utf-8", "replace")
    state = {}
    for name in install_hooks.CLIENT_HOOKS:
        try:
            text = (folder / name).read_text("utf-8", "replace")
        except OSError:
            text = ""
        ours = install_hooks.MARKER in text
        state[name] = ours or (framework and "pre-commit" in text and "hook-impl" in text)
    return state


def run(args: argparse.Namespace) -> int:
    repo, system = open_system(args)
    p = plan.make(repo, system)
    snap = p.snapshot
    stale = [pin.ref.pin_path for pin in snap.stale]
    missing = [pin.repo_path for pin in snap.missing]
    unnamed = unnamed_prompts(repo, system, snap)
    hooks = hooks_state(repo)
    blocked = bool(missing or unnamed or p.stale)
    if args.json:
        output.emit_json(
            {
                "system": system.name,
                "last": p.last.tag if p.last else None,
                "next": p.tag,
                "bump": p.level if p.next else None,
                "changes": [c.as_json() for c in p.changes],
                "stale": stale,
                "missing": missing,
                "unnamed": unnamed,
                "pipeline": [str(s) for s in p.stale],
                "hooks": hooks,
                "releasable": not blocked,
                "state": snap.state,
                "notes": p.notes,
            }
        )
        return 1 if blocked else 0
    _print(repo, p, snap, unnamed, hooks, args.system)
    return 1 if blocked else 0


def _track_fix(repo: Repo, path: str, named: str | None) -> str:
    """``track`` for a prompt, from where status ran; a prompt named like a params or .dvc file is said to
    be a prompt (as the pre-commit hook's fix does)."""
    name = posixpath.basename(path)
    kind = ("--as", "prompt") if name.startswith("params") or name.endswith(".dvc") else ()
    here = posixpath.relpath(path, repo.relative_cwd() or ".")
    return advice.modelver("track", *kind, here, system=named)


def _print(
    repo: Repo, p: plan.Plan, snap: Snapshot, unnamed: list[str], hooks: dict[str, bool], named: str | None
) -> None:
    """``named``: the system as --system gave it, named again in the fixes."""
    system = p.system
    last = f"last {p.last.tag}" if p.last else "no release yet"
    if p.next:
        output.say(f"{system.name}: {last}; next {p.tag} ({p.level})")
    else:
        output.say(f"{system.name}: {last}; nothing to release")
    for change in p.changes:
        output.say(f"  {change.level:<6} {change_line(change)}")
    if snap.stale:
        output.say(f"stale pins ({len(snap.stale)}), run `git modelver lock`:")
        for pin in snap.stale:
            output.say(f"  {pin.ref.pin_path}  ({pin.repo_path})")
    for pin in snap.missing:
        head = repo.head()
        message, fix = pins.missing_help(system.file, pin, head is not None and pin.repo_path in head.tree)
        output.say(f"{message} (fix: {fix})" if fix else message)
    for path in unnamed:
        output.say(
            f"{path}: matches policy.prompt_globs but {system.file} does not name it "
            f"(fix: {_track_fix(repo, path, named)})"
        )
    if p.stale:
        output.say(f"stale pipeline ({len(p.stale)} stage(s)), `dvc repro` was not run:")
        for stage in p.stale:
            output.say(f"  {stage}")
    for note in p.notes:
        output.say(f"note: {note}")
    off = [name for name, on in hooks.items() if not on]
    if off:
        output.say(f"hooks off in this clone: {', '.join(off)} (fix: git modelver install-hooks)")
