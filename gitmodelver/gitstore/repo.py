"""The Git adapter: pygit2 for reading, the ``git`` command where the user's configuration must apply."""

from __future__ import annotations

import shlex
from pathlib import Path

import pygit2

from gitmodelver.errors import NotARepository, UsageError
from gitmodelver.gitstore import proc
from gitmodelver.gitstore.tree import CommitTree, WorkTree


class Repo:
    def __init__(self, path: str | Path = ".", *, bare_ok: bool = False) -> None:
        start = Path(path)
        if not start.exists():
            raise NotARepository(f"{path}: no such directory")
        found = pygit2.discover_repository(str(start.resolve()))
        if found is None:
            where = start.resolve()
            # `git init` makes one where the command ran; run in the wrong folder, `cd` is the fix.
            fix = "git init" if where == Path.cwd().resolve() else f"git init {shlex.quote(str(where))}"
            raise NotARepository(f"{where}: not a git repository", fix=fix)
        self.git = pygit2.Repository(found)
        if self.git.workdir is None and not bare_ok:
            raise NotARepository(f"{found}: a bare repository has no working tree: run it in a clone")
        # A bare repository (server hooks) has no working tree: git runs in the git dir itself.
        self.root = Path(self.git.workdir or self.git.path).resolve()
        self.bare = self.git.workdir is None
        self.cwd = start.resolve()

    @property
    def common_dir(self) -> Path:
        """Where state shared by all worktrees lives (``.git`` of the main worktree)."""
        return _common(Path(self.git.path))

    def state_dir(self) -> Path:
        path = self.common_dir / "modelver"
        path.mkdir(exist_ok=True)
        return path

    def run(
        self, *args: str, check: bool = True, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> proc.ProcessResult:
        return proc.git(self.root, *args, check=check, stdin=stdin, env=env)

    def worktree(self) -> WorkTree:
        return WorkTree(self.root)

    def head(self) -> pygit2.Commit | None:
        if self.git.head_is_unborn:
            return None
        return self.git.head.peel(pygit2.Commit)

    def head_ref(self) -> str:
        """The ref HEAD points at (``refs/heads/…``), or ``HEAD`` when detached."""
        return "HEAD" if self.git.head_is_detached else self.git.references["HEAD"].target  # type: ignore[return-value]

    def commit(self, rev: str) -> pygit2.Commit:
        if len(rev) == 40:
            try:  # a full object id: no rev-parse needed
                return self.git[rev].peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError):
                pass
        try:
            return self.git.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
            raise UsageError(f"unknown revision '{rev}'; `git modelver log` lists the versions") from exc

    def commit_tree(self, commit: pygit2.Commit, label: str) -> CommitTree:
        return CommitTree(self.git, commit, label)

    def is_ancestor(self, ancestor: pygit2.Oid, descendant: pygit2.Oid) -> bool:
        return ancestor == descendant or self.git.descendant_of(descendant, ancestor)

    def config(self, key: str) -> str | None:
        try:
            return str(self.git.config[key])
        except KeyError:
            return None

    def config_bool(self, key: str) -> bool:
        try:
            return self.git.config.get_bool(key)
        except (KeyError, pygit2.GitError, ValueError):
            return False

    def relative_cwd(self) -> str:
        try:
            rel = self.cwd.relative_to(self.root).as_posix()
        except ValueError:
            return ""
        return "" if rel == "." else rel


def _common(gitdir: Path) -> Path:
    commondir = gitdir / "commondir"
    if commondir.exists():
        return (gitdir / commondir.read_text().strip()).resolve()
    return gitdir.resolve()
