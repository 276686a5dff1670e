"""Manifest validation: the TOML read (plain TOML fast, the rest by tomllib), the JSON Schema (see
``schema_cache``) plus the path rules, every problem at once, with TOML lines.

Each problem is one line ``{file}:{line}: {location}: {message}`` where the location is JSON-pointer-like
(``/base_model/revision``), so editors and CI annotate the right line and people read what to change.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from gitmodelver.core import schema_cache, tomltext
from gitmodelver.core.filerefs import NON_COMPONENTS, FileRef, in_git_dir, iter_file_refs
from gitmodelver.core.tomltext import line_index, line_of, plain_toml
from gitmodelver.errors import ManifestError

SCHEMA_PATH = schema_cache.SCHEMA_PATH
manifest_schema = schema_cache.manifest_schema
Problem = schema_cache.Problem
Location = schema_cache.Location
# How deep keys may nest (SPEC §2 needs 4): enough for any real table, and far from where tomllib,
# jsonschema or the diff would run out of stack.
MAX_DEPTH = 32
DEPTH_MESSAGE = f"nested more than {MAX_DEPTH} levels deep (tables, arrays and dotted keys)"
# TOML integers are 64-bit; Python's are not, and cannot even be printed past 4300 digits.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
INT_MESSAGE = "an integer outside TOML's 64-bit range (-2^63 to 2^63-1)"
NAN_MESSAGE = "nan and inf have no canonical form (digests are canonical JSON); use a finite number"
_LONG_NUMBER = re.compile(r"[0-9][0-9_]{4299,}")

# tomllib appends the position to its message; we move it to the front like every other problem.
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = " (at end of document)"
# `C:/x` is absolute on Windows and must not be read as a relative path on POSIX.
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


# --------------------------------------------------------------------------- public API


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """The manifest's data; malformed TOML, TOML nested deeper than ``MAX_DEPTH`` and integers TOML cannot
    hold become a ManifestError with their line, before anything else reads the data."""
    data = plain_toml(text)  # manifests are nearly always plain TOML, read fast and with a sound shape
    if data is not None:
        _shaped[0] = data
        return data
    import tomllib  # the rest: hooks and status read plain manifests without loading it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _decode_error_position(str(exc), text)
        raise _malformed(file, line, message) from exc
    except RecursionError as exc:  # tomllib recurses into inline arrays and tables
        raise ManifestError(file, [_deep_text(file, text)]) from exc
    except ValueError as exc:  # int() refuses decimal integers of more than 4300 digits
        raise _malformed(file, _long_number_line(text), INT_MESSAGE) from exc
    problem = shape_problem(data)
    if problem is not None:
        index = line_index(text)
        raise ManifestError(file, [_render(file, line_of(index, problem.location), problem)])
    _shaped[0] = data
    return data


# The data parse_toml returned last: its shape is known sound, and `manifest.parse` validates it next.
# (Parsed data is shared and never changed: see ``Manifest``.)
_shaped: list[Any] = [None]


def _malformed(file: str, line: int, message: str) -> ManifestError:
    return ManifestError(file, [f"{file}:{line}: malformed TOML: {message}"])


def shape_problem(data: Mapping[str, Any]) -> Problem | None:
    """The first place nested deeper than ``MAX_DEPTH``, holding an integer TOML cannot hold, or nan or
    inf (which the digests, canonical JSON, cannot hold).

    Tables, arrays and dotted keys each add a level. Walked with a stack, not recursion: the data may be
    nested deeper than Python recurses, which is why this runs before anything else reads it.
    """
    stack: list[tuple[Location, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        items = list(value.items() if isinstance(value, Mapping) else enumerate(value))
        if items and len(path) >= MAX_DEPTH:
            return Problem((*path, items[0][0]), DEPTH_MESSAGE)
        nested = []
        for key, item in items:
            kind = type(item)  # the exact types tomllib makes first: this runs on every value read
            if kind is str or kind is bool:
                continue
            if kind is dict or kind is list:
                nested.append((key, item))
            elif kind is int:
                if not _INT_MIN <= item <= _INT_MAX:
                    return Problem((*path, key), INT_MESSAGE)
            elif kind is float:
                if not math.isfinite(item):
                    return Problem((*path, key), NAN_MESSAGE)
            else:
                problem = _odd_value(item)
                if problem is not None:
                    return Problem((*path, key), problem)
                if isinstance(item, Mapping | list):
                    nested.append((key, item))
        stack.extend(((*path, k), v) for k, v in reversed(nested))
    return None


def _odd_value(item: Any) -> str | None:
    """The shape rules for values of other types (tomlkit's, subclasses of int and float)."""
    if isinstance(item, int) and not isinstance(item, bool) and not _INT_MIN <= item <= _INT_MAX:
        return INT_MESSAGE
    if isinstance(item, float) and not math.isfinite(item):
        return NAN_MESSAGE
    return None


def _deep_text(file: str, text: str) -> str:
    """``file:line: /location: …`` for TOML too deep for tomllib itself: the skimmer's index of the text
    says where it goes too deep."""
    index = line_index(text)
    deep = [(line, key) for key, line in index.items() if len(key) > MAX_DEPTH]
    if not deep:
        return f"{file}: {DEPTH_MESSAGE}"
    location = min(deep, key=lambda lk: lk[0])[1][: MAX_DEPTH + 1]
    return _render(file, line_of(index, location), Problem(location, DEPTH_MESSAGE))


def _long_number_line(text: str) -> int:
    match = _LONG_NUMBER.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else max(len(text.splitlines()), 1)


def validate(
    data: Mapping[str, Any],
    text: str,
    file: str,
    *,
    root: Path | None = None,
    base: Path | None = None,
    schema_known_valid: bool = False,
) -> list[str]:
    """Every problem in the manifest, sorted by line; empty when it is valid.

    ``text`` is the TOML the data came from (for line numbers). ``root`` (the repository's working tree)
    and ``base`` (the manifest's folder) turn on the working-tree checks (symlinks). Without ``root``, a
    relative ``base`` is the manifest's folder inside the repository for the ``..`` rule, and without
    either the manifest's folder is taken to be the repository root. A missing file is not a validation
    problem: the commands that read files report it with more context.
    """
    shape = shape_problem(data) if data is not _shaped[0] else None
    if shape is not None:  # nothing else may read it: the schema and the path rules recurse
        problems = {shape}
    else:
        schema = [] if schema_known_valid else list(schema_cache.problems(data))
        problems = {*schema, *_path_problems(data, root, base)}
    if not problems:
        return []
    index = line_index(text)
    located = [(line_of(index, p.location), p) for p in problems]
    # Unknown lines last; the location then the message keep the order stable within one line.
    located.sort(key=lambda lp: (lp[0] is None, lp[0] or 0, _pointer(lp[1].location), lp[1].message))
    return [_render(file, line, problem) for line, problem in located]


def check(
    data: Mapping[str, Any],
    text: str,
    file: str,
    *,
    root: Path | None = None,
    base: Path | None = None,
    schema_known_valid: bool = False,
) -> None:
    """Raise ManifestError carrying every problem when the manifest is invalid."""
    problems = validate(data, text, file, root=root, base=base, schema_known_valid=schema_known_valid)
    if problems:
        raise ManifestError(file, problems)  # each names its line: what to change is there


# --------------------------------------------------------------------------- rendering


def _render(file: str, line: int | None, problem: Problem) -> str:
    where = file if line is None else f"{file}:{line}"
    return f"{where}: {_pointer(problem.location)}: {problem.message}"


def _pointer(location: Location) -> str:
    # RFC 6901 escaping, so a key such as "prompts/**" stays one segment.
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in location)


def _decode_error_position(message: str, text: str) -> tuple[int, str]:
    match = _TOML_POSITION.search(message)
    if match:
        return int(match.group(1)), message[: match.start()]
    # "at end of document": the last line is where the reader has to look.
    return max(len(text.splitlines()), 1), message.removesuffix(_TOML_AT_END)


# --------------------------------------------------------------------------- path rules


def _path_problems(data: Mapping[str, Any], root: Path | None, base: Path | None) -> Iterator[Problem]:
    rules = _PathRules(root, base)
    for section, table in data.items():
        if section in NON_COMPONENTS:  # no file references there
            continue
        if root is None:  # no working tree: the rules see only the text, kept for a shared table
            yield from tomltext.kept(_PATHS, table, (section, rules.where), rules.section_problems)
        else:
            yield from _table_path_problems(rules, {section: table})


_PATHS: tomltext.Memo[tuple[Problem, ...]] = {}  # by shared table, under (section, manifest folder)


def _table_path_problems(rules: _PathRules, data: Mapping[str, Any]) -> Iterator[Problem]:
    for ref in iter_file_refs(data):
        message = rules.check(ref.target, file=ref.kind in ("path", "params"))
        if message:
            yield Problem((*ref.key, ref.kind), message)
        for index, target in _trained_on(data, ref):
            message = rules.check(target)
            if message:
                yield Problem((*ref.key, "trained_on", index), message)


def _trained_on(data: Mapping[str, Any], ref: FileRef) -> Iterator[tuple[int, str]]:
    """The lineage paths of a reference; entries that are not strings are the schema's to report."""
    table: Any = data
    for name in ref.key:
        table = table[name]
    entries = table.get("trained_on")
    if isinstance(entries, list):
        yield from ((i, e) for i, e in enumerate(entries) if isinstance(e, str))


class _PathRules:
    """Checks one target path; knows where the manifest sits inside the repository."""

    def section_problems(self, table: Any, key: tuple[str, str]) -> tuple[Problem, ...]:
        """The problems of one top-level table (``key``: its name, and the manifest's folder)."""
        return tuple(_table_path_problems(self, {key[0]: table}))

    def __init__(self, root: Path | None, base: Path | None) -> None:
        # Only a real working tree can be asked about symlinks.
        self.root = root.resolve() if root is not None else None
        self.folder = _folder_in_repo(root, base)
        self.where = str(self.folder)

    def check(self, target: str, *, file: bool = False) -> str | None:
        """The problem with ``target``, if any; ``file``: it must name a file (a ``path`` reference),
        where a ``dvc`` output may be a directory."""
        if not target.strip():
            return "empty path (give a file relative to the manifest's folder)"
        if "\\" in target:
            return f"'{target}' uses '\\'; write paths with '/'"
        if "\0" in target:
            return f"{target!r} contains a NUL character, which no file name can"
        if target.startswith("/") or _WINDOWS_DRIVE.match(target):
            return f"'{target}' is absolute; paths are relative to the manifest's folder"
        inside = posixpath.normpath(posixpath.join(self.where, target))
        if inside == ".." or inside.startswith("../"):
            return f"'{target}' leaves the repository ('..' climbs above its root)"
        if in_git_dir(inside):
            return f"'{target}' is inside .git, Git's own files; name a file of the repository"
        if posixpath.normpath(target) == ".":
            return f"'{target}' is the manifest's own folder; name a file in it"
        if self.root is None:
            return None
        problem = _symlink_problem(self.root, [*self.folder.parts, *target.split("/")])
        if problem is None and file and (self.root / inside).is_dir():
            return f"'{target}' is a directory; a path reference names one file"
        return problem


_TOP = PurePosixPath(".")


def _folder_in_repo(root: Path | None, base: Path | None) -> PurePosixPath:
    """The manifest's folder relative to the repository root ('.' when unknown or outside it).

    Without a working tree (a manifest read from Git objects) a relative ``base`` is that folder.
    """
    if base is None:
        return _TOP
    if root is None:
        return PurePosixPath(base.as_posix()) if not base.is_absolute() else PurePosixPath(".")
    for folder, top in ((base, root), (base.resolve(), root.resolve())):
        try:
            return PurePosixPath(folder.relative_to(top).as_posix())
        except ValueError:
            continue
    return PurePosixPath(".")


def _symlink_problem(root: Path, parts: list[str]) -> str | None:
    """Walk the path the way the OS does (symlinks first, then '..') and stop where it leaves ``root``.

    ``root`` is resolved. Files that do not exist are fine here: only where links point matters.
    """
    current = root
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            if not current.is_relative_to(root):
                return "symlink leaves the repository ('..' after a symlink climbs above its root)"
            continue
        step = current / part
        if not step.is_symlink():
            current = step
            continue
        try:
            dest = step.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            return f"symlink '{step.relative_to(root).as_posix()}' cannot be resolved ({exc})"
        if not dest.is_relative_to(root):
            return f"symlink leaves the repository: '{step.relative_to(root).as_posix()}' -> '{dest}'"
        if in_git_dir(dest.relative_to(root).as_posix()):
            return f"symlink leads into .git: '{step.relative_to(root).as_posix()}' -> '{dest}'"
        current = dest
    return None
