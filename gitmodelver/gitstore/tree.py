"""Read files of one state of the repository: the working tree or a commit (no checkout)."""

from __future__ import annotations

import hashlib
import os
import posixpath
from functools import cached_property
from pathlib import Path

import pygit2


class WorkTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = "WORKTREE"
        self._links: dict[str, str | None] = {}  # a thousand prompts share their folders

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def blob(self, path: str) -> bytes | None:
        """What `git add` would store: a symlink's target, the text after Git's filters."""
        full = self.root / path
        try:
            if full.is_symlink():
                return os.fsencode(os.readlink(full))
            data = full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return self.filters.clean(path, data)

    def sha256(self, path: str) -> str | None:
        data = self.blob(path)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    @cached_property
    def filters(self) -> GitFilters:
        return GitFilters(self.root)

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    complete = True  # it sees every file, as DVC does when it hashes a folder

    def files(self, folder: str) -> list[str]:
        """Every file below ``folder`` (repo-relative paths), untracked ones included, as DVC hashes it."""
        top = self.root / folder
        if not top.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".dvc")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            found += [f"{rel}/{name}" for name in filenames]
        return sorted(found)

    def link(self, path: str) -> str | None:
        if path not in self._links:
            try:
                self._links[path] = os.readlink(f"{self.root}/{path}")
            except (OSError, ValueError):  # not a link, not there; ValueError: a NUL in the path
                self._links[path] = None
        return self._links[path]


SHARED_BLOB = 64 * 1024  # bytes: prompts and DVC files are shared between trees, datasets are not
SHARED_BLOBS = 4096  # blobs kept at most (256 MiB at the very most)


class CommitTree:
    def __init__(
        self,
        repo: pygit2.Repository,
        commit: pygit2.Commit,
        label: str,
        blobs: dict[pygit2.Oid, bytes] | None = None,
        trees: dict[pygit2.Oid, pygit2.Tree] | None = None,
    ) -> None:
        self.repo = repo
        self.tree = commit.tree
        self.label = label
        self._entries: dict[str, pygit2.Object | None] = {}  # links are looked up, then read
        # small blobs read, by id, shared by the trees of one run: versions share most of their files
        self._blobs = blobs
        # folders read, by id (shared by a run's trees when given): libgit2 keeps no big tree in its
        # cache, and a folder of a thousand prompts would be read again for each of them
        self._trees: dict[pygit2.Oid, pygit2.Tree] = {} if trees is None else trees

    def _entry(self, path: str) -> pygit2.Object | None:
        if path not in self._entries:
            folder, _, name = path.rpartition("/")
            parent = self._folder(folder)
            try:
                self._entries[path] = parent[name] if parent is not None and name else None
            except KeyError:
                self._entries[path] = None
        return self._entries[path]

    def _folder(self, folder: str) -> pygit2.Tree | None:
        """The tree of a folder ('' is the root); None when the path is no folder."""
        if not folder:
            return self.tree
        entry = self._entry(folder)
        if entry is None or entry.type_str != "tree":
            return None
        tree = self._trees.get(entry.id)
        if tree is None:
            loaded = self.repo[entry.id]
            if not isinstance(loaded, pygit2.Tree):
                return None
            if len(self._trees) >= SHARED_BLOBS:
                self._trees.clear()
            tree = self._trees[entry.id] = loaded
        return tree

    complete = False  # only what Git tracks: a folder DVC hashed may hold untracked files too

    def files(self, folder: str) -> list[str]:
        """The files Git holds below ``folder`` at this commit."""
        entry = self._entry(folder)
        if not isinstance(entry, pygit2.Tree):
            return []
        found: list[str] = []
        todo = [(folder, entry)]
        while todo:
            prefix, tree = todo.pop()
            for item in tree:
                obj = self.repo[item.id]
                if isinstance(obj, pygit2.Tree):
                    todo.append((f"{prefix}/{item.name}", obj))
                elif isinstance(obj, pygit2.Blob):
                    found.append(f"{prefix}/{item.name}")
        return sorted(found)

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry.type_str != "blob":
            return None
        if self._blobs is None:
            return blob_data(self.repo, entry.id)
        data = self._blobs.get(entry.id)
        if data is None:
            data = blob_data(self.repo, entry.id)
            if data is not None and len(data) <= SHARED_BLOB:
                if len(self._blobs) >= SHARED_BLOBS:
                    self._blobs.clear()
                self._blobs[entry.id] = data
        return data

    def blob(self, path: str) -> bytes | None:
        return self.read(path)

    def sha256(self, path: str) -> str | None:
        data = self.read(path)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None

    def link(self, path: str) -> str | None:
        entry = self._entry(path)
        if entry is None or entry.filemode != pygit2.enums.FileMode.LINK:
            return None
        return link_text(self.repo, entry.id)


def link_text(repo: pygit2.Repository, oid: pygit2.Oid) -> str | None:
    """What a symlink's blob says, decoded as the OS would name the file (undecodable bytes kept)."""
    data = blob_data(repo, oid)
    return os.fsdecode(data) if data is not None else None


def blob_data(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes | None:
    """The bytes of a blob object (None for anything else)."""
    blob = repo[oid]
    return blob.data if isinstance(blob, pygit2.Blob) else None


_TRUE = {"true", "yes", "on", "1", "input"}


class GitFilters:
    """What Git does to a file's bytes on the way into a blob: line endings, ``ident``, filter drivers.

    Most repositories convert nothing: without an attributes file and without ``core.autocrlf`` no filter
    can apply, and a file's bytes are its blob. That is checked once per folder, so hashing a thousand
    prompts stays a thousand reads; only paths a filter may touch ask libgit2 (or, for filter drivers
    such as Git LFS, which libgit2 cannot run, the ``git`` command).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = _repository_at(root)
        self.everywhere = self.repo is not None and _repository_wide(self.repo)
        self._folders: dict[str, bool] = {}

    def clean(self, path: str, data: bytes) -> bytes:
        """``data``, the working-tree bytes of ``path``, as Git stores them."""
        if self.repo is None or not self._may_filter(path):
            return data
        try:
            filters = self.repo.load_filter_list(path)
            if self._has_driver(path) or (filters is not None and b"\0" in data):
                return self._through_git(path, data)
            return filters.apply_to_buffer(data) if filters is not None else data
        except pygit2.GitError:
            return data  # e.g. core.safecrlf refusing a conversion: `git add` refuses it too

    def smudge(self, path: str, data: bytes) -> bytes:
        """A blob's bytes as a checkout writes them to ``path`` (filter drivers aside)."""
        if self.repo is None or not self._may_filter(path) or b"\0" in data:
            return data
        try:
            filters = self.repo.load_filter_list(path, pygit2.enums.FilterMode.TO_WORKTREE)
            return filters.apply_to_buffer(data) if filters is not None else data
        except pygit2.GitError:
            return data

    def _may_filter(self, path: str) -> bool:
        if self.everywhere:
            return True
        folder = posixpath.dirname(path)
        while True:
            if self._attributes_in(folder):
                return True
            if not folder:
                return False
            folder = posixpath.dirname(folder)

    def _attributes_in(self, folder: str) -> bool:
        if folder not in self._folders:
            self._folders[folder] = (self.root / folder / ".gitattributes").exists()
        return self._folders[folder]

    def _has_driver(self, path: str) -> bool:
        assert self.repo is not None
        name = self.repo.get_attr(path, "filter")
        if not isinstance(name, str):
            return False
        return any(f"filter.{name}.{key}" in self.repo.config for key in ("clean", "process"))

    def _through_git(self, path: str, data: bytes) -> bytes:
        """``git hash-object`` runs every filter, drivers included; the ``ffi`` buffer of libgit2 stops
        at the first NUL byte, so binary data goes this way too. Writes the blob (as `git add` would)."""
        from gitmodelver.gitstore import proc

        oid = proc.git(self.root, "hash-object", "-w", "--stdin", f"--path={path}", stdin=data).out.strip()
        assert self.repo is not None
        blob = self.repo[oid]
        return blob.data if isinstance(blob, pygit2.Blob) else data


def _repository_at(root: Path) -> pygit2.Repository | None:
    found = pygit2.discover_repository(str(root))
    if found is None:
        return None
    repo = pygit2.Repository(found)
    workdir = repo.workdir
    return repo if workdir is not None and Path(workdir).resolve() == root.resolve() else None


def _repository_wide(repo: pygit2.Repository) -> bool:
    """Whether a filter may apply anywhere: core.autocrlf, or attributes from outside the tree."""
    try:
        autocrlf = str(repo.config["core.autocrlf"]).lower()
    except KeyError:
        autocrlf = ""
    return autocrlf in _TRUE or any(p.exists() for p in _attribute_files(repo))


def _attribute_files(repo: pygit2.Repository) -> list[Path]:
    gitdir = Path(repo.path)
    common = gitdir / "commondir"
    files = [gitdir / "info" / "attributes"]
    if common.exists():
        files.append(gitdir / common.read_text().strip() / "info" / "attributes")
    try:
        files.append(Path(str(repo.config["core.attributesFile"])).expanduser())
    except KeyError:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        files.append(Path(xdg) / "git" / "attributes")
    if not os.environ.get("GIT_ATTR_NOSYSTEM"):
        files.append(Path("/etc/gitattributes"))
    return files
