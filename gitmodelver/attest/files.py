"""The files of a version, laid out as ``reproduce`` lays them out: the manifest, every Git-tracked file
it names (prompts, evaluation suite and results, …) and every file of the DVC outputs it names, by
repo-relative path. Every other path of the commit is what a signature over the reproduced folder ignores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pygit2

from gitmodelver.attest.statement import SIGNATURES, Binding
from gitmodelver.core import digest
from gitmodelver.core.filerefs import join
from gitmodelver.core.manifest import Manifest
from gitmodelver.dvc import dvcops
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.verify import manifest_of

RESULTS = "evaluation.results"


@dataclass(frozen=True)
class VersionFile:
    path: str  # repo-relative, as in the reproduced folder
    sha256: str | None  # known from its Git blob; None for a DVC object (hashed from its bytes)
    obj: dvcops.Obj | None = None


@dataclass(frozen=True)
class VersionFiles:
    release: Release
    binding: Binding
    files: list[VersionFile]
    folders: tuple[str, ...]  # DVC directory outputs whose listing was not read (no DVC cache at hand)
    outputs: list[dvcops.Output]

    @property
    def known(self) -> dict[str, str | None]:
        return {f.path: f.sha256 for f in self.files}


def _manifest(repo: Repo, system: System, release: Release) -> tuple[pygit2.Commit, Manifest]:
    commit = repo.commit(release.commit)
    m = manifest_of(repo, system, commit, release.tag)
    if m is None:
        raise UsageError(f"{release.tag} has no {system.file}: pass --system for the right folder")
    return commit, m


def binding(release: Release, system: System, m: Manifest, tree: CommitTree) -> Binding:
    """The version as Git holds it, every digest derived from its manifest, never from its tag."""
    results = next((r for r in m.refs if r.dotted == RESULTS and r.kind == "path"), None)
    data = tree.read(join(m.base, results.target)) if results is not None else None
    return Binding(
        release.tag,
        release.target,
        release.commit,
        system.file,
        digest.version_digest(m.data),
        digest.state_digest(m.data),
        f"sha256:{hashlib.sha256(data).hexdigest()}" if data is not None else "",
    )


def version_files(repo: Repo, system: System, release: Release, store: dvcops.Store | None) -> VersionFiles:
    """Every file of ``release``; DVC directory outputs are listed from ``store`` (None: not listed)."""
    commit, m = _manifest(repo, system, release)
    tree = repo.commit_tree(commit, release.tag)
    files = {system.file: _blob(tree, system.file, release.tag)}
    for ref in m.refs:
        if ref.kind == "path":
            path = join(m.base, ref.target)
            files[path] = _blob(tree, path, release.tag)
    outs, unresolved = dvcops.outputs(tree, m)
    if unresolved:
        raise UsageError(f"{release.tag}: {unresolved[0]}", fix=f"git modelver verify {release.tag}")
    folders: list[str] = []
    for out in outs:
        if out.is_dir and store is None:
            folders.append(out.path)
            continue
        objs, known = store.expand(out) if store is not None else ([_top(out)], True)
        if not known:
            raise UsageError(
                f"{release.tag}: {out.path} ({out.md5}) is not in the DVC cache",
                fix=f"dvc fetch {out.target}",
            )
        for obj in objs:
            if not obj.is_dir:
                path = f"{out.path}/{obj.relpath}" if obj.relpath else out.path
                files[path] = VersionFile(path, None, obj)
    return VersionFiles(
        release,
        binding(release, system, m, tree),
        sorted(files.values(), key=lambda f: f.path),
        tuple(folders),
        outs,
    )


def _top(out: dvcops.Output) -> dvcops.Obj:
    return dvcops.Obj(out.md5, out.hash_name, out.ref, "", out.path)


def _blob(tree: CommitTree, path: str, tag: str) -> VersionFile:
    data = tree.read(path)
    if data is None:
        raise UsageError(f"{tag}: {path} is not a file at its commit", fix=f"git modelver verify {tag}")
    return VersionFile(path, hashlib.sha256(data).hexdigest())


def ignored(repo: Repo, commit: pygit2.Commit, files: list[VersionFile]) -> list[str]:
    """The paths of the reproduced folder that are no file of the version, as few as possible: a folder
    holding none of them is one entry. The signatures' own folder is always one."""
    wanted = {f.path for f in files}
    parents = {"/".join(p.split("/")[:i]) for p in wanted for i in range(1, p.count("/") + 1)}
    found = [SIGNATURES]
    todo: list[tuple[str, pygit2.Tree]] = [("", commit.tree)]
    while todo:
        prefix, tree = todo.pop()
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if path in wanted:
                continue
            if path in parents and entry.type_str == "tree":
                obj = repo.git[entry.id]
                assert isinstance(obj, pygit2.Tree)
                todo.append((path + "/", obj))
            elif path not in parents:
                found.append(path)
    return sorted(found)
