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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodelver.core import tomltext, validate
from gitmodelver.core.manifest import FILENAME
from gitmodelver.errors import ManifestError
from gitmodelver.gitstore import plumbing

if TYPE_CHECKING:
    import pygit2

    from gitmodelver.gitstore.repo import Repo

CACHE_FILE = "hook-manifests.json"


def index_file() -> str | None:
    """The index a commit is made from when git names another (``git commit -a``, ``git commit PATH``)."""
    override = os.environ.get("GIT_INDEX_FILE")
    # Git sets it relative to the directory the hook runs in, which is ours too.
    return str(Path(override).resolve()) if override else None


@dataclass(frozen=True)
class StagedManifest:
    file: str  # repo-relative path
    data: dict[str, Any] | None  # None when the TOML does not parse
    error: ManifestError | None
    read: Callable[[], str] = field(compare=False, repr=False)  # its text (read when a check needs it)

    @cached_property
    def text(self) -> str:
        return self.read()

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

    def known_data(self, oid: str) -> dict[str, Any] | None:
        """The data of a manifest blob parsed before, if it was."""
        if oid not in self.known:
            return None
        self.used[oid] = self.known[oid]
        tomltext.share(self.used[oid])  # never changed: what depends on one table is worked out once
        return self.used[oid]

    def parse(self, oid: str, text: str, file: str) -> dict[str, Any]:
        """The data of a manifest blob; raises ManifestError (with its line) when it is not TOML."""
        key = oid
        known = self.known_data(key)
        if known is not None:
            return known
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


def _cache_path(at: plumbing.Where) -> Path | None:
    try:
        folder = at.common_dir / "modelver"
        folder.mkdir(exist_ok=True)
        return folder / CACHE_FILE
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
    """What a commit will hold (the index) beside what it builds on (HEAD's tree), read through git's
    plumbing (``gitstore.plumbing``): a hook does not pay for importing pygit2.

    ``of_commit`` judges a commit already made the same way: its tree as the index, its first parent's
    as HEAD's (``review`` checks every commit of a pull request, hooks installed or not).
    """

    def __init__(
        self,
        at: plumbing.Where,
        index: plumbing.Listing,
        head: plumbing.Listing | None,
        repo: Repo | None = None,
    ) -> None:
        self.at = at
        self.root = at.root
        self.index = index
        self.cache = ParsedCache(_cache_path(at))
        self.tree = plumbing.StagedTree(at, index, dict(self.cache.digests))
        self.head = head.entries if head is not None else None
        self._repo = repo
        self._head_manifests: dict[str, StagedManifest | None] = {}

    @classmethod
    def of_index(cls, directory: str | Path) -> Staged:
        at = plumbing.where(directory)
        return cls(at, plumbing.index_listing(at, index_file()), plumbing.tree_listing(at, "HEAD"))

    @classmethod
    def of_commit(cls, repo: Repo, commit: pygit2.Commit) -> Staged:
        at = plumbing.Where(repo.root, Path(repo.git.path), repo.common_dir)
        listing = plumbing.tree_listing(at, str(commit.id))
        assert listing is not None  # the commit is in hand
        parent = plumbing.tree_listing(at, str(commit.parent_ids[0])) if commit.parent_ids else None
        return cls(at, listing, parent, repo)

    @property
    def repo(self) -> Repo:
        """The repository through pygit2, opened when a check needs more than the staged state (the last
        release, when ``system.version`` changed)."""
        if self._repo is None:
            from gitmodelver.gitstore.repo import Repo

            self._repo = Repo(self.root)
        return self._repo

    def entry(self, path: str) -> plumbing.Entry | None:
        return self.index.entries.get(path)

    def head_id(self, path: str) -> str | None:
        found = self.head.get(path) if self.head is not None else None
        return found.oid if found is not None else None

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
        return plumbing.changed(self.index, self.head) if self.head is not None else self.paths

    def blob(self, path: str) -> bytes | None:
        return self.tree.read(path)

    def size(self, path: str) -> int | None:
        entry = self.entry(path)
        if entry is None:
            return None
        return self._sizes.get(entry.oid)  # from the headers only: never the content

    @cached_property
    def _sizes(self) -> dict[str, int | None]:
        """The sizes of what this commit adds, read together."""
        return plumbing.blob_sizes(self.at, (e.oid for p in self.changed if (e := self.entry(p)) is not None))

    @cached_property
    def manifests(self) -> list[StagedManifest]:
        return [self._load(p) for p in self.paths if posixpath.basename(p) == FILENAME]

    def _load(self, file: str) -> StagedManifest:
        entry = self.entry(file)
        assert entry is not None

        def read() -> str:
            return (self.blob(file) or b"").decode("utf-8", "replace")

        known = self.cache.known_data(entry.oid)
        if known is not None:  # parsed before: its text is read only if a check asks for it
            return StagedManifest(file, known, None, read)
        text = read()
        try:
            return StagedManifest(file, self.cache.parse(entry.oid, text, file), None, lambda: text)
        except ManifestError as exc:
            return StagedManifest(file, None, exc, lambda: text)

    def manifest_changed(self, m: StagedManifest) -> bool:
        entry = self.entry(m.file)
        return entry is None or self.head_id(m.file) != entry.oid

    def head_manifest(self, file: str) -> StagedManifest | None:
        """HEAD's version of a manifest, when it has one that parses (read only when needed)."""
        if file not in self._head_manifests:
            self._head_manifests[file] = self._read_head_manifest(file)
        return self._head_manifests[file]

    def _read_head_manifest(self, file: str) -> StagedManifest | None:
        oid = self.head_id(file)
        if oid is None:
            return None

        def read() -> str | None:
            raw = plumbing.read_blobs(self.at, [oid]).get(oid)
            try:
                return raw.decode("utf-8") if raw is not None else None
            except UnicodeDecodeError:
                return None

        known = self.cache.known_data(oid)
        if known is not None:  # parsed before, so it was text
            return StagedManifest(file, known, None, lambda: read() or "")
        text = read()
        if text is None:
            return None
        try:
            return StagedManifest(file, self.cache.parse(oid, text, f"{file}@HEAD"), None, lambda: text)
        except ManifestError:
            return None
