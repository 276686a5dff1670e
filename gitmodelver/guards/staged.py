"""The staged state a commit will be made from (the index), with HEAD beside it for "what changed".

Hooks read this, never the working tree: under the pre-commit framework unstaged edits are stashed,
but as a plain git hook (or with ``git commit -a``, which stages into a temporary index named by
``GIT_INDEX_FILE``) the working tree can differ from what is committed.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pygit2

from gitmodelver.core import tomltext, validate
from gitmodelver.core.manifest import FILENAME
from gitmodelver.errors import ManifestError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import IndexTree

CACHE_FILE = "hook-manifests.json"
_GONE = (pygit2.enums.DeltaStatus.DELETED,)


class IndexView(IndexTree):
    """IndexTree over a given index: ``git commit -a`` and ``git commit PATH`` use a temporary one."""

    def __init__(self, repo: pygit2.Repository, index: pygit2.Index, digests: dict[str, str]) -> None:
        super().__init__(repo, index, digests)


def staged_index(repo: Repo) -> pygit2.Index:
    override = os.environ.get("GIT_INDEX_FILE")
    if not override:
        return repo.git.index
    # Git sets it relative to the directory the hook runs in, which is ours too.
    index = pygit2.Index(str(Path(override).resolve()))
    # pygit2 diffs an index against a tree only through the index's repository.
    index._repo = repo.git  # type: ignore[assignment]
    return index


@dataclass(frozen=True)
class StagedManifest:
    file: str  # repo-relative path
    text: str
    data: dict[str, Any] | None  # None when the TOML does not parse
    error: ManifestError | None

    @property
    def base(self) -> str:
        return posixpath.dirname(self.file)

    @property
    def policy(self) -> Mapping[str, Any]:
        policy = (self.data or {}).get("policy")
        return policy if isinstance(policy, Mapping) else {}


class ParsedCache:
    """Parsed manifests, and the SHA-256 of staged files, by blob id, kept between hook runs in the git dir.

    Parsing a manifest of 1,000 prompts takes longer than the rest of a hook run, and the same blob is
    parsed again and again: as staged, then as HEAD's after the commit; and the same thousand prompts are
    hashed at every commit. A blob id names its bytes, so an entry can never be stale; only the entries
    of the latest run are kept.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        doc = _read_json(path) if path is not None else {}
        manifests, digests = doc.get("manifests"), doc.get("sha256")
        self.known: dict[str, Any] = manifests if isinstance(manifests, dict) else {}
        self.used: dict[str, Any] = {}
        # what a digest may be: 64 hex digits (anything else in the file is ignored)
        kept = digests if isinstance(digests, dict) else {}
        self.digests: dict[str, str] = {k: v for k, v in kept.items() if _is_sha256(v)}
        self.known_digests = dict(self.digests)
        self.dirty = False

    def parse(self, oid: pygit2.Oid, text: str, file: str) -> dict[str, Any]:
        """The data of a manifest blob; raises ManifestError (with its line) when it is not TOML."""
        key = str(oid)
        if key in self.known:
            self.used[key] = self.known[key]
            tomltext.share(self.used[key])  # never changed: what depends on one table is worked out once
            return self.used[key]
        data = validate.parse_toml(text, file)
        if _jsonable(data):
            self.used[key] = data
            self.dirty = True
        return data

    def save(self, used_digests: Mapping[str, str] | None = None) -> None:
        """Write this run's entries: the manifests parsed, and ``used_digests`` (when one of them is new)."""
        used_digests = used_digests or {}
        new = any(k not in self.known_digests for k in used_digests)
        if not (self.dirty or new) or self.path is None:
            return
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        doc = {"manifests": self.used, "sha256": dict(used_digests)}
        try:
            tmp.write_text(json.dumps(doc), "utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache we cannot write only makes the next run slower


def _cache_path(repo: Repo) -> Path | None:
    try:
        return repo.state_dir() / CACHE_FILE
    except OSError:
        return None  # a read-only git dir: no cache, just slower


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _jsonable(data: Any) -> bool:
    """Whether JSON gives ``data`` back as it is (TOML dates and times do not survive)."""
    if isinstance(data, dict):
        return all(_jsonable(v) for v in data.values())
    if isinstance(data, list):
        return all(_jsonable(v) for v in data)
    return isinstance(data, str | int | float | bool)


class Staged:
    """What a commit will hold (the index) beside what it builds on (HEAD's tree).

    ``of_commit`` judges a commit already made the same way: its tree as the index, its first parent's
    as HEAD's (``review`` checks every commit of a pull request, hooks installed or not).
    """

    def __init__(
        self, repo: Repo, index: pygit2.Index | None = None, base: pygit2.Commit | None | bool = True
    ) -> None:
        self.repo = repo
        self.index = index if index is not None else staged_index(repo)
        self.cache = ParsedCache(_cache_path(repo))
        self.tree = IndexView(repo.git, self.index, dict(self.cache.digests))
        head = repo.head() if base is True else (base or None)
        self.head_tree: pygit2.Tree | None = head.tree if isinstance(head, pygit2.Commit) else None
        self._head_manifests: dict[str, StagedManifest | None] = {}

    @classmethod
    def of_commit(cls, repo: Repo, commit: pygit2.Commit) -> Staged:
        index = pygit2.Index()
        index.read_tree(commit.tree)
        index._repo = repo.git  # type: ignore[assignment]  # diff_to_tree needs the repository
        parent = repo.git[commit.parent_ids[0]] if commit.parent_ids else None
        return cls(repo, index, parent if isinstance(parent, pygit2.Commit) else False)

    def entry(self, path: str) -> pygit2.IndexEntry | None:
        try:
            return self.index[path]
        except KeyError:
            return None

    def head_id(self, path: str) -> pygit2.Oid | None:
        if self.head_tree is None:
            return None
        try:
            return self.head_tree[path].id
        except KeyError:
            return None

    @cached_property
    def paths(self) -> list[str]:
        return self.tree.paths()

    def save(self) -> None:
        """Keep what this run parsed and hashed for the next one."""
        used = {k: v for k, v in self.tree.digests.items() if k in self.tree.hashed}
        self.cache.save(used)

    @cached_property
    def changed(self) -> list[str]:
        """Paths whose staged blob is new or differs from HEAD's: what this commit adds."""
        if self.head_tree is None:
            return self.paths
        # One diff in libgit2: looking HEAD's tree up path by path costs 100x more on big trees.
        diff = self.index.diff_to_tree(self.head_tree)
        return [d.new_file.path for d in diff.deltas if d.status not in _GONE]

    def blob(self, path: str) -> bytes | None:
        return self.tree.read(path)

    def size(self, path: str) -> int | None:
        entry = self.entry(path)
        if entry is None:
            return None
        return int(self.repo.git.odb.read_header(entry.id)[1])  # the header only: never the content

    @cached_property
    def manifests(self) -> list[StagedManifest]:
        return [self._load(p) for p in self.paths if posixpath.basename(p) == FILENAME]

    def _load(self, file: str) -> StagedManifest:
        entry = self.entry(file)
        assert entry is not None
        text = (self.blob(file) or b"").decode("utf-8", "replace")
        try:
            return StagedManifest(file, text, self.cache.parse(entry.id, text, file), None)
        except ManifestError as exc:
            return StagedManifest(file, text, None, exc)

    def manifest_changed(self, m: StagedManifest) -> bool:
        entry = self.entry(m.file)
        return entry is None or self.head_id(m.file) != entry.id

    def head_manifest(self, file: str) -> StagedManifest | None:
        """HEAD's version of a manifest, when it has one that parses (read only when needed)."""
        if file not in self._head_manifests:
            self._head_manifests[file] = self._read_head_manifest(file)
        return self._head_manifests[file]

    def _read_head_manifest(self, file: str) -> StagedManifest | None:
        oid = self.head_id(file)
        blob = self.repo.git[oid] if oid is not None else None
        if not isinstance(blob, pygit2.Blob):
            return None
        try:
            text = blob.data.decode("utf-8")
            return StagedManifest(file, text, self.cache.parse(blob.id, text, f"{file}@HEAD"), None)
        except (UnicodeDecodeError, ManifestError):
            return None
