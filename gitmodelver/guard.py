"""The pre-commit checks, judged on the staged state (the index, see ``staged``), never on the working
tree: what is staged is what the commit will hold.

Three checks (SPEC §9): ``prompt-guard`` (prompts match their pins, every prompt is named, no pin is
edited by hand), ``manifest`` (the staged manifest is valid) and ``no-raw-weights`` (weights go to DVC).
Each returns one Problem per thing wrong, naming the file and the command that fixes it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver import pins, schema_cache, validate
from gitmodelver.manifest import FILENAME
from gitmodelver.refs import FileRef, iter_file_refs
from gitmodelver.repo import Repo
from gitmodelver.staged import Staged, StagedManifest
from gitmodelver.tree import join

MIB = 1024 * 1024
DEFAULT_MAX_FILE_SIZE = 10 * MIB
# File types that hold weights, checkpoints, arrays or vector indexes: they belong in DVC, not Git.
WEIGHT_PATTERNS: tuple[str, ...] = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.gguf",
    "*.ggml",
    "*.onnx",
    "*.h5",
    "*.hdf5",
    "*.keras",
    "*.pb",
    "*.tflite",
    "*.mlmodel",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.pkl",
    "*.pickle",
    "*.joblib",
    "*.faiss",
    "*.data-?????-of-?????",
)


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the commit: where, what, and the one command that fixes it."""

    text: str  # starts with the file (and line) it is about
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.text} (fix: {self.fix})" if self.fix else self.text


# --------------------------------------------------------------------------- prompt-guard


def _short(pin: str | None) -> str:
    return f"{pin[:8]}…" if pin else "(none)"


def lock_fix(st: Staged, m: StagedManifest) -> str:
    """``git modelver lock`` for this manifest's system, then stage what it wrote."""
    selector = ""
    if len(st.manifests) > 1:
        name = ((m.data or {}).get("system") or {}).get("name")
        selector = f"--system {name} " if isinstance(name, str) else ""
    return f"git modelver {selector}lock && git add {m.file}"


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A ``prompt_globs`` pattern: ``**`` spans folders, ``*`` and ``?`` stay inside one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _prompt_globs(m: StagedManifest) -> list[re.Pattern[str]]:
    globs = m.policy.get("prompt_globs")
    if not isinstance(globs, list):
        return []
    return [glob_regex(g.strip("/")) for g in globs if isinstance(g, str) and g.strip("/")]


def _relative(path: str, base: str) -> str | None:
    if not base:
        return path
    return path[len(base) + 1 :] if path.startswith(base + "/") else None


def _matches(globs: Sequence[re.Pattern[str]], path: str, base: str) -> bool:
    rel = _relative(path, base)
    return rel is not None and any(g.fullmatch(rel) for g in globs)


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
        self.globs = _prompt_globs(m)
        # Pins can only have been edited when the manifest itself changed; a new manifest (or one HEAD
        # cannot parse) has nothing to compare with, so its pins are judged only against the files.
        head = st.head_manifest(m.file) if st.manifest_changed(m) else m
        self.head = head.data if head is not None and head.data is not None else m.data

    def pin_edited(self, ref: FileRef) -> bool:
        return ref.pin != _head_pin(self.head, ref)

    def run(self) -> Iterator[Problem]:
        for ref in self.refs:
            path = join(self.m.base, ref.target)
            if ref.kind == "path" and (ref.key[0] == "prompts" or _matches(self.globs, path, self.m.base)):
                yield from self.prompt(ref, path)
            elif ref.pin is not None and self.pin_edited(ref):
                yield from self.other_pin(ref, path)
        yield from self.unnamed()

    def prompt(self, ref: FileRef, path: str) -> Iterator[Problem]:
        data = self.st.blob(path)
        if data is None:
            yield Problem(
                f"{self.m.file}: {ref.dotted} names {path}, which is not staged",
                fix=f"git add {shlex.quote(path)}",
            )
            return
        actual = hashlib.sha256(data).hexdigest()
        if ref.pin == actual:
            return
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
        if not self.globs:
            return
        named = {join(self.m.base, r.target) for r in self.refs}
        for path in self.st.paths:
            if path in named or path == self.m.file or not _matches(self.globs, path, self.m.base):
                continue
            rel = _relative(path, self.m.base) or path
            key = re.sub(r"[^A-Za-z0-9_-]+", "_", posixpath.basename(rel).split(".")[0]) or "prompt"
            yield Problem(
                f"{path}: a prompt (it matches policy.prompt_globs) that {self.m.file} does not name",
                fix=f'add [prompts.{key}] path = "{rel}" to {self.m.file}, then {lock_fix(self.st, self.m)}',
            )


def prompt_guard(st: Staged, files: Sequence[str] = ()) -> list[Problem]:
    """Prompts whose staged bytes differ from their pins, unnamed prompts, pins edited by hand.

    It looks at every staged manifest whatever ``files`` says: a prompt edit implicates the manifest
    and a manifest edit its prompts, so the check needs the whole staged state.
    """
    problems: list[Problem] = []
    for m in st.manifests:
        if m.data is None:
            # The manifest hook reports every problem; here one line says why nothing was checked.
            assert m.error is not None
            problems.append(Problem(f"{m.error.problems[0]} (prompts not checked)", fix=f"fix {m.file}"))
            continue
        problems.extend(_PromptCheck(st, m).run())
    return problems


# --------------------------------------------------------------------------- manifest


def manifest_check(st: Staged, files: Sequence[str] = ()) -> list[Problem]:
    """Every problem of each staged manifest that changed (or of the manifests in ``files``)."""
    changed = {p for p in st.changed if posixpath.basename(p) == FILENAME}
    wanted = set(files) if files else changed
    problems: list[Problem] = []
    for m in st.manifests:
        if m.file not in wanted:
            continue
        if m.error is not None:
            found = m.error.problems
        elif m.file in changed and _only_pins_changed(st, m):
            continue  # what `lock` and `release` write; prompt-guard checks the values
        else:
            found = _validate(st, m)
        if found:
            # Every problem on its own line (with its TOML line); the fix is said once, at the end.
            problems.extend(Problem(p) for p in found[:-1])
            problems.append(Problem(found[-1], fix=f"edit {m.file}, then git add {m.file}"))
    return problems


def _validate(st: Staged, m: StagedManifest) -> list[str]:
    """Every problem of what changed; the whole manifest unless HEAD's passed the schema.

    Texts that passed the schema are remembered (``schema_cache``, shared with status and lock). When
    HEAD's manifest is one of them, only the sections that changed are validated, and of the tables of
    file references only the entries that changed: a commit touching one of 1,000 prompts then costs
    one entry's validation instead of a thousand.
    """
    assert m.data is not None
    folder = st.cache.path.parent if st.cache.path is not None else None
    base = Path(m.base) if m.base else None
    if schema_cache.known_valid(folder, m.text):
        return validate.validate(m.data, m.text, m.file, base=base, schema_known_valid=True)
    head = st.head_manifest(m.file)
    data: Mapping[str, Any] = m.data
    if head is not None and head.data is not None and schema_cache.known_valid(folder, head.text):
        data = _changed_parts(head.data, m.data)
    found = validate.validate(data, m.text, m.file, base=base)
    if not found:
        schema_cache.remember(folder, m.text)
    return found


# Tables of file references that grow with the number of files; validated entry by entry.
_REF_TABLES = ("prompts", "weights")


def _changed_parts(head: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The sections of ``data`` that differ from ``head`` (``system`` always: the schema requires it)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        old = head.get(key)
        if key in _REF_TABLES and isinstance(value, Mapping) and isinstance(old, Mapping):
            entries = {name: entry for name, entry in value.items() if old.get(name) != entry}
            if entries:
                out[key] = entries
        elif key == "system" or old != value:
            out[key] = value
    return out


def _only_pins_changed(st: Staged, m: StagedManifest) -> bool:
    """True when the manifest differs from HEAD's only in well-formed pins and system.version.

    The full schema check costs more than the rest of a hook run on a big manifest (jsonschema alone
    takes ~50 ms to import), and the commonest manifest change by far is a `lock` after a prompt edit.
    Like every hook, this judges what the commit changes; a manifest passed by name (pre-commit's
    ``--all-files``) without changes is validated in full.
    """
    found = st.head_manifest(m.file)
    head, data = (found.data if found is not None else None), m.data
    if head is None or data is None:
        return False
    patterns = _pin_patterns()
    pin_kinds = {ref.pin_path: ref.kind for ref in iter_file_refs(data)}
    from gitmodelver.diff import diff  # only for a changed manifest

    for change in diff(head, data):
        kind = pin_kinds.get(change.path)
        if kind is None or not (change.new is None or patterns[kind].fullmatch(str(change.new))):
            return False
    version = data.get("system", {}).get("version")
    if version != head.get("system", {}).get("version"):
        return isinstance(version, str) and patterns["version"].fullmatch(version) is not None
    return True


@functools.cache
def _pin_patterns() -> dict[str, re.Pattern[str]]:
    """The schema's own patterns for pins and versions, so there is one definition of each."""
    defs = validate.manifest_schema()["$defs"]
    return {
        "path": re.compile(defs["sha256"]["pattern"]),
        "dvc": re.compile(defs["md5"]["pattern"]),
        "version": re.compile(defs["semver"]["pattern"]),
    }


# --------------------------------------------------------------------------- no-raw-weights


@dataclass(frozen=True)
class WeightPolicy:
    max_file_size: int
    patterns: tuple[str, ...]  # gitignore-like: the last match wins, "!" exempts

    def weight_like(self, path: str) -> bool:
        hit = False
        for pattern in self.patterns:
            negate = pattern.startswith("!")
            body = pattern[1:] if negate else pattern
            target = path if "/" in body.strip("/") else posixpath.basename(path)
            if glob_regex(body.strip("/")).fullmatch(target):
                hit = not negate
        return hit


def weight_policy(m: StagedManifest | None) -> WeightPolicy:
    policy = m.policy if m is not None else {}
    size = policy.get("max_file_size")
    extra = policy.get("weight_patterns")
    extra_patterns = tuple(p for p in extra if isinstance(p, str)) if isinstance(extra, list) else ()
    limit = size if isinstance(size, int) and not isinstance(size, bool) else DEFAULT_MAX_FILE_SIZE
    return WeightPolicy(limit, WEIGHT_PATTERNS + extra_patterns)


def _governing(st: Staged, path: str) -> StagedManifest | None:
    """The manifest of the innermost system folder holding ``path`` (none: the defaults apply)."""
    best: StagedManifest | None = None
    for m in st.manifests:
        if _relative(path, m.base) is not None and (best is None or len(m.base) > len(best.base)):
            best = m
    return best


def _human(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def dvc_fix(st: Staged, path: str) -> str:
    folder = posixpath.dirname(path)
    gitignore = shlex.quote(f"{folder}/.gitignore" if folder else ".gitignore")
    init = "" if (st.repo.root / ".dvc").is_dir() else "dvc init && "
    q = shlex.quote(path)
    # `dvc add` refuses a file Git tracks, so it leaves the index first.
    return f"git rm --cached -q {q} && {init}dvc add {q} && git add {shlex.quote(path + '.dvc')} {gitignore}"


def no_raw_weights(st: Staged, files: Sequence[str] = ()) -> list[Problem]:
    """Weight-like files, and files over ``policy.max_file_size``, staged into Git instead of DVC."""
    problems: list[Problem] = []
    for path in files or st.changed:
        if path.endswith(".dvc") or st.entry(path) is None:
            continue
        policy = weight_policy(_governing(st, path))
        size = st.size(path) or 0
        if policy.weight_like(path):
            what = f"{path}: weights ({_human(size)}) staged into Git; weights are tracked by DVC"
        elif size > policy.max_file_size:
            what = (
                f"{path}: {_human(size)} staged into Git, over the {_human(policy.max_file_size)} limit "
                "(policy.max_file_size); large files are tracked by DVC"
            )
        else:
            continue
        problems.append(Problem(what, fix=dvc_fix(st, path)))
    return problems


Check = Callable[[Staged, Sequence[str]], list[Problem]]
CHECKS: dict[str, Check] = {
    "prompt-guard": prompt_guard,
    "manifest": manifest_check,
    "no-raw-weights": no_raw_weights,
}


def run(repo: Repo, names: Sequence[str], files: Sequence[str] = ()) -> list[Problem]:
    """The named checks on the staged state; ``files`` (from pre-commit) narrows the file checks."""
    st = Staged(repo)
    wanted = [f for f in (os.path.normpath(f).replace(os.sep, "/") for f in files) if f]
    problems: list[Problem] = []
    for name in names:
        problems.extend(CHECKS[name](st, wanted))
    st.cache.save()
    return problems
