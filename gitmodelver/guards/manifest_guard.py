"""The ``manifest`` hook: the staged manifest is valid, every problem with its TOML line (SPEC §9), and
its ``system.version`` is the one `release` wrote."""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitmodelver.core import schema_cache, validate
from gitmodelver.core.filerefs import iter_file_refs
from gitmodelver.core.manifest import FILENAME, version_of
from gitmodelver.guards.fixes import lock_fix, system_name
from gitmodelver.guards.problems import Problem
from gitmodelver.guards.staged import Staged, StagedManifest

# --------------------------------------------------------------------------- manifest


def manifest_check(st: Staged, files: Sequence[str] = ()) -> list[Problem]:
    """Every problem of each staged manifest that changed (or of the manifests in ``files``), and a
    ``system.version`` changed by hand."""
    changed = {p for p in st.changed if posixpath.basename(p) == FILENAME}
    wanted = set(files) if files else changed
    problems: list[Problem] = []
    for m in st.manifests:
        if m.file not in wanted:
            continue
        if m.error is not None:
            found = m.error.problems
        elif m.file in changed and _only_pins_changed(st, m):
            found = []  # what `lock` writes; prompt-guard checks the values
        else:
            found = _validate(st, m)
        # Every problem on its own line, with its TOML line: what to change is there; no one command
        # can make the change.
        problems.extend(Problem(p) for p in found)
        hand_set = version_check(st, m)
        problems += [hand_set] if hand_set is not None else []
    return problems


def version_check(st: Staged, m: StagedManifest) -> Problem | None:
    """``system.version`` changed by hand: only `release` writes it, in commits it makes itself.

    A value the schema refuses is the schema check's to report; a changed version is judged against
    HEAD's and the last release's (``released.allowed``), which is where `git modelver lock` puts it back.
    """
    if m.data is None:
        return None
    system = m.data.get("system")
    version = system.get("version") if isinstance(system, dict) else None
    head = st.head_manifest(m.file)
    committed = version_of(head.data) if head is not None else None
    if version == committed or not (version is None or _well_formed(version)):
        return None
    name = system_name(m)
    from gitmodelver.gitstore import released  # the last release, through pygit2: only for a changed version

    if name is None or version in released.allowed(st.repo, name, committed):
        return None
    said = f"says {version!r}" if version is not None else "was removed"
    was = f"HEAD's says {committed!r}" if committed is not None else "HEAD's has none"
    return Problem(
        f"{m.file}: system.version {said} ({was}): it was changed by hand; `git modelver release` "
        "writes it in the release commit, and `git modelver lock` puts it back",
        fix=lock_fix(st, m),
    )


def _well_formed(version: Any) -> bool:
    return isinstance(version, str) and _pin_patterns()["version"].fullmatch(version) is not None


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
    from gitmodelver.core.diff import changes  # only for a changed manifest

    pin_kinds: dict[str, str] | None = None
    for change in changes(head, data):  # the first change that is no pin ends it
        if not change.path.endswith((".sha256", ".md5")):
            return False
        if pin_kinds is None:
            pin_kinds = {ref.pin_path: ref.kind for ref in iter_file_refs(data)}
        pattern = _pin_patterns().get(pin_kinds.get(change.path, ""))
        if pattern is None or not (change.new is None or pattern.fullmatch(str(change.new))):
            return False
    version = data.get("system", {}).get("version")
    if version != head.get("system", {}).get("version"):
        return isinstance(version, str) and _pin_patterns()["version"].fullmatch(version) is not None
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
