"""The pre-commit checks, judged on the staged state (the index, see ``staged``), never on the working
tree: what is staged is what the commit will hold.

Three checks (SPEC §9): ``prompt-guard`` (prompts match their pins, every prompt is named, no pin is
edited by hand), ``manifest`` (the staged manifest is valid) and ``no-raw-weights`` (weights go to DVC).
Each returns one Problem per thing wrong, naming the file and the command that fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitmodelver import advice
from gitmodelver.core import pins
from gitmodelver.core.filerefs import FileRef, iter_file_refs, join, outside
from gitmodelver.guards import globs
from gitmodelver.guards.fixes import lock_fix, track_fix
from gitmodelver.guards.manifest_guard import manifest_check
from gitmodelver.guards.problems import Problem
from gitmodelver.guards.staged import Staged, StagedManifest
from gitmodelver.guards.weights_guard import no_raw_weights

# --------------------------------------------------------------------------- prompt-guard


def _short(pin: str | None) -> str:
    return f"{pin[:8]}…" if pin else "(none)"


def _head_pin(head: Mapping[str, Any] | None, ref: FileRef) -> str | None:
    table: Any = head
    for name in ref.key:
        if not isinstance(table, Mapping):
            return None
        table = table.get(name)
    value = table.get(ref.pin_field) if isinstance(table, Mapping) else None
    return value if isinstance(value, str) else None


class _PromptCheck:
    """prompt-guard for one staged manifest."""

    def __init__(self, st: Staged, m: StagedManifest) -> None:
        assert m.data is not None
        self.st = st
        self.m = m
        self.refs = list(iter_file_refs(m.data))
        self.globs = globs.prompt_patterns(m.policy)
        # Pins can only have been edited when the manifest itself changed; a new manifest (or one HEAD
        # cannot parse) has nothing to compare with, so its pins are judged only against the files.
        head = st.head_manifest(m.file) if st.manifest_changed(m) else m
        self.head = head.data if head is not None and head.data is not None else m.data

    def pin_edited(self, ref: FileRef) -> bool:
        return ref.pin != _head_pin(self.head, ref)

    def run(self) -> Iterator[Problem]:
        # the files whose digest is not kept yet, read in one process before they are asked for one by one
        self.st.tree.want(join(self.m.base, ref.target) for ref in self.refs if ref.kind == "path")
        for ref in self.refs:
            path = join(self.m.base, ref.target)
            if ref.kind == "path" and (
                ref.key[0] == "prompts" or globs.matches(self.globs, path, self.m.base)
            ):
                yield from self.prompt(ref, path)
            elif ref.kind != "params" and ref.pin is not None and self.pin_edited(ref):
                yield from self.other_pin(ref, path)
        yield from self.unnamed()

    def prompt(self, ref: FileRef, path: str) -> Iterator[Problem]:
        wrong = outside(self.m.base, ref.target)
        if wrong is not None:  # no file of the repository: nothing to stage or pin
            shown = repr(ref.target) if "\0" in ref.target else f"'{ref.target}'"
            yield Problem(
                f"{self.m.file}: {ref.dotted}: {shown} {wrong}; name a file inside the repository, "
                f"relative to {self.m.file}'s folder"
            )
            return
        # A symlinked prompt is the staged file it leads to: staging an edit of the target alone is
        # a prompt edit too.
        actual, why, file = pins.file_pin(self.st.tree, path)
        if actual is None:
            if why is not None and file == path:
                yield Problem(f"{self.m.file}: {ref.dotted} names {path}: {why}")
                return
            yield self.not_staged(ref, path, file)
            return
        if ref.pin == actual:
            return
        path = path if file == path else f"{path} -> {file}"
        fix = lock_fix(self.st, self.m)
        if ref.pin is None:
            yield Problem(f"{path}: prompt {ref.dotted} is not pinned in {self.m.file}", fix=fix)
        elif self.pin_edited(ref):
            yield self.hand_edit(ref, path, actual)
        else:
            yield Problem(
                f"{path}: staged prompt does not match its pin {ref.pin_path} in {self.m.file} "
                f"({_short(ref.pin)} pinned, {_short(actual)} staged): edited without "
                "`git modelver lock`",
                fix=fix,
            )

    def not_staged(self, ref: FileRef, path: str, file: str) -> Problem:
        """A named prompt the index lacks: staged when it is there, else restored or unnamed."""
        link = f", a symlink to {file}" if file != path else ""
        named = f"{self.m.file}: {ref.dotted} names {path}{link}"
        if os.path.lexists(self.st.root / file):
            return Problem(f"{named}, which is not staged", fix=advice.command("git", "add", file))
        drop = f"to drop the prompt, delete [{ref.dotted}] from {self.m.file} and `git add {self.m.file}`"
        if self.st.head_id(file) is None:
            return Problem(f"{named}, which does not exist: create it, or {drop}")
        return Problem(
            f"{named}, which was deleted: {drop}; to keep it, restore it",
            fix=advice.command("git", "checkout", "HEAD", "--", file),
        )

    def other_pin(self, ref: FileRef, path: str) -> Iterator[Problem]:
        actual = pins.actual_pin(self.st.tree, ref.kind, path)
        if actual is not None and actual != ref.pin:
            yield self.hand_edit(ref, path, actual)

    def hand_edit(self, ref: FileRef, path: str, actual: str) -> Problem:
        return Problem(
            f"{self.m.file}: pin {ref.pin_path} was edited by hand: it says {_short(ref.pin)} but "
            f"{path} is {_short(actual)}; pins are written by `git modelver lock`",
            fix=lock_fix(self.st, self.m),
        )

    def unnamed(self) -> Iterator[Problem]:
        assert self.m.data is not None
        for path in globs.unnamed(
            self.st.paths, self.m.data, self.m.file, self.m.base, self.st.tree, self.globs
        ):
            yield Problem(
                f"{path}: a prompt (it matches policy.prompt_globs) that {self.m.file} does not name",
                fix=track_fix(self.st, self.m, path),
            )


def prompt_guard(st: Staged, files: Sequence[str] = (), *, unparsed: bool = True) -> list[Problem]:
    """Prompts whose staged bytes differ from their pins, unnamed prompts, pins edited by hand.

    It looks at every staged manifest whatever ``files`` says: a prompt edit implicates the manifest
    and a manifest edit its prompts, so the check needs the whole staged state. ``unparsed``: say that
    a manifest that is not TOML left its prompts unchecked (not when the manifest check runs too: one
    syntax error is one problem).
    """
    problems: list[Problem] = []
    for m in st.manifests:
        if m.data is None:
            # The manifest hook reports every problem; here one line says why nothing was checked.
            assert m.error is not None
            if unparsed:
                problems.append(Problem(f"{m.error.problems[0]} (prompts not checked)"))
            continue
        problems.extend(_PromptCheck(st, m).run())
    return problems


Check = Callable[[Staged, Sequence[str]], list[Problem]]
CHECKS: dict[str, Check] = {
    "prompt-guard": prompt_guard,
    "manifest": manifest_check,
    "no-raw-weights": no_raw_weights,
}


def run(directory: str | Path, names: Sequence[str], files: Sequence[str] = ()) -> list[Problem]:
    """The named checks on the staged state of the repository ``directory`` is in; ``files`` (from
    pre-commit) narrows the file checks."""
    st = Staged.of_index(directory)
    wanted = [f for f in (os.path.normpath(f).replace(os.sep, "/") for f in files) if f]
    problems: list[Problem] = []
    for name in names:
        if name == "prompt-guard" and "manifest" in names:
            problems.extend(prompt_guard(st, wanted, unparsed=False))
        else:
            problems.extend(CHECKS[name](st, wanted))
    st.save()
    return problems
