"""The staged state through git's plumbing (``ls-files``, ``ls-tree``, ``cat-file``), for the hooks.

A pre-commit hook reads the index, HEAD's tree and a few blobs; git's own commands do that in a few
milliseconds each, where importing pygit2 alone takes ~90 ms of every commit. Nothing here imports pygit2.
Blobs are read in batches (one ``cat-file --batch`` for all a check needs), never one process per file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from gitmodelver.errors import NotARepository
from gitmodelver.gitstore import proc

LINK = 0o120000
TREE = 0o040000


class Where(NamedTuple):
    root: Path  # the working tree
    git_dir: Path
    common_dir: Path  # shared by the worktrees of a repository


class Entry(NamedTuple):
    mode: int
    oid: str  # hex


class Listing(NamedTuple):
    entries: dict[str, Entry]  # staged paths (stage 0)
    paths: list[str]  # every path listed, in order, an unmerged one once per stage
    conflicts: bool  # some path is unmerged


def where(directory: str | Path) -> Where:
    """The repository ``directory`` is in (NotARepository when none)."""
    found = proc.run(
        ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"],
        cwd=directory,
        check=False,
    )
    lines = found.out.splitlines()
    if found.returncode != 0 or len(lines) != 3:
        raise NotARepository(
            f"{Path(directory).resolve()}: not a git repository (or a bare one)", fix="git init"
        )
    root, git_dir, common = (Path(line) for line in lines)
    return Where(root, git_dir, common if common.is_absolute() else (root / common).resolve())


def index_listing(at: Where, index_file: str | None = None) -> Listing:
    """The index (``index_file``: a temporary one, as ``git commit -a`` and ``git commit PATH`` use)."""
    env = {"GIT_INDEX_FILE": index_file} if index_file else None
    out = proc.run(["git", "ls-files", "-s", "-z"], cwd=at.root, env=env).stdout
    entries: dict[str, Entry] = {}
    paths: list[str] = []
    conflicts = False
    for record in out.split(b"\0"):
        if not record:
            continue
        info, _, raw = record.partition(b"\t")
        mode, oid, stage = info.split(b" ")
        path = os.fsdecode(raw)
        paths.append(path)
        if stage == b"0":
            entries[path] = Entry(int(mode, 8), oid.decode())
        else:
            conflicts = True
    return Listing(entries, paths, conflicts)


def tree_listing(at: Where, rev: str) -> Listing | None:
    """Every file of a commit's tree (``rev``), as a listing; None when there is no such commit (HEAD
    before the first commit)."""
    found = proc.run(["git", "ls-tree", "-r", "-z", "--full-tree", rev], cwd=at.root, check=False)
    if found.returncode != 0:
        return None
    entries: dict[str, Entry] = {}
    for record in found.stdout.split(b"\0"):
        if not record:
            continue
        info, _, raw = record.partition(b"\t")
        mode, _kind, oid = info.split(b" ")
        entries[os.fsdecode(raw)] = Entry(int(mode, 8), oid.decode())
    return Listing(entries, list(entries), False)


def read_blobs(at: Where, oids: Iterable[str]) -> dict[str, bytes | None]:
    """The bytes of each blob (None for a missing object or one of another type), one process for all."""
    wanted, data = _cat_file(at, "--batch", oids)
    found: dict[str, bytes | None] = {}
    pos = 0
    for oid in wanted:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) != 3:  # "<oid> missing" (or ambiguous)
            found[oid] = None
            continue
        size = int(header[2])
        found[oid] = data[pos : pos + size] if header[1] == b"blob" else None
        pos += size + 1  # the content, then a newline
    return found


def blob_sizes(at: Where, oids: Iterable[str]) -> dict[str, int | None]:
    """The size of each object, from its header alone, one process for all."""
    wanted, data = _cat_file(at, "--batch-check", oids)
    found: dict[str, int | None] = {}
    for oid, line in zip(wanted, data.decode().splitlines(), strict=False):
        parts = line.split(" ")
        found[oid] = int(parts[2]) if len(parts) == 3 else None
    return found


def _cat_file(at: Where, option: str, oids: Iterable[str]) -> tuple[list[str], bytes]:
    """The objects asked for (each once, in order) and what ``git cat-file OPTION`` says of them."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return wanted, b""
    stdin = "".join(f"{o}\n" for o in wanted).encode()
    return wanted, proc.run(["git", "cat-file", option], cwd=at.root, stdin=stdin).stdout


class StagedTree:
    """A listing (the index, or a commit's tree) as a ``Tree``: the files a commit holds, read through git.

    ``digests``: SHA-256 of blobs by id, kept between runs by the caller (a blob id names its bytes).
    ``want`` reads in one process the blobs a check is about to ask for.
    """

    complete = False  # only what is staged

    def __init__(self, at: Where, listing: Listing, digests: dict[str, str] | None = None) -> None:
        self.at = at
        self.listing = listing
        self.label = "INDEX"
        self.digests: dict[str, str] = {} if digests is None else digests
        self.hashed: set[str] = set()  # the blob ids this run asked about
        self._blobs: dict[str, bytes | None] = {}

    def paths(self) -> list[str]:
        return list(self.listing.paths)

    def entry(self, path: str) -> Entry | None:
        return self.listing.entries.get(path)

    def want(self, paths: Iterable[str]) -> None:
        """Read now, together, the blobs of ``paths`` whose digest is not known."""
        oids = [e.oid for p in paths if (e := self.entry(p)) is not None and e.oid not in self.digests]
        self._blobs.update(read_blobs(self.at, (o for o in oids if o not in self._blobs)))

    def _blob(self, oid: str) -> bytes | None:
        if oid not in self._blobs:
            self._blobs.update(read_blobs(self.at, [oid]))
        return self._blobs.get(oid)

    def read(self, path: str) -> bytes | None:
        entry = self.entry(path)
        return self._blob(entry.oid) if entry is not None and entry.mode != TREE else None

    def blob(self, path: str) -> bytes | None:
        return self.read(path)

    def sha256(self, path: str) -> str | None:
        entry = self.entry(path)
        if entry is None:
            return None
        self.hashed.add(entry.oid)
        digest = self.digests.get(entry.oid)
        if digest is None:
            data = self._blob(entry.oid)
            if data is None:
                return None
            digest = self.digests[entry.oid] = hashlib.sha256(data).hexdigest()
        return digest

    def exists(self, path: str) -> bool:
        return path in self.listing.entries

    def link(self, path: str) -> str | None:
        entry = self.entry(path)
        if entry is None or entry.mode != LINK:
            return None
        data = self._blob(entry.oid)
        return os.fsdecode(data) if data is not None else None

    def files(self, folder: str) -> list[str]:
        """The staged files below ``folder``."""
        prefix = folder + "/"
        return sorted(p for p in self.listing.entries if p.startswith(prefix))


def changed(index: Listing, head: Mapping[str, Entry] | None) -> list[str]:
    """Paths whose staged entry is new or differs from HEAD's (content or mode): what the commit adds."""
    if head is None:
        return list(index.entries)
    return [path for path, entry in index.entries.items() if head.get(path) != entry]
