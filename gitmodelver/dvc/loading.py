"""Serving a pinned version from Python (SPEC §7): ``gitmodelver.load("support-bot@v1.4.0")``.

Everything comes from the tag, never from the working tree: prompts are read from Git objects and checked
against their sha256 pins, weights are materialized through DVC into ``.git/modelver/weights`` and checked
against their md5 pins. A materialized file is rehashed only when its inode, size or times change.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pygit2

from gitmodelver.core import digest
from gitmodelver.core.filerefs import FileRef, follow, join
from gitmodelver.core.manifest import Manifest
from gitmodelver.core.semver import parse_tag
from gitmodelver.dvc import dvcops
from gitmodelver.dvc.dvcops import HashCache, Obj, Output, Store
from gitmodelver.errors import CheckFailed, UnknownVersion, UsageError
from gitmodelver.gitstore import system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.verify import manifest_of, verify_release

_FICLONE = 0x40049409  # Linux ioctl: share the extents of another file (a reflink)


@dataclass(frozen=True)
class LoadedVersion:
    """One released version, read-only; what serving code stamps on its outputs and loads from."""

    id: str  # NAME@vX.Y.Z
    digest: str  # the version digest
    state: str  # the state digest: equal states behave the same
    commit: str
    repo: Repo = field(repr=False, compare=False)
    manifest: Manifest = field(repr=False, compare=False)

    @property
    def params(self) -> dict[str, Any]:
        """The manifest as data (a copy: nothing a caller does changes the version)."""
        return copy.deepcopy(self.manifest.data)

    @cached_property
    def _tree(self) -> CommitTree:
        commit = self.repo.git[pygit2.Oid(hex=self.commit)]
        assert isinstance(commit, pygit2.Commit)
        return CommitTree(self.repo.git, commit, self.id)

    def _ref(self, section: str, name: str, kind: str) -> FileRef:
        key = tuple(name.split(".")) if "." in name else (section, name)
        for ref in self.manifest.refs:
            if ref.key == key and ref.kind == kind:
                return ref
        known = ", ".join(".".join(r.key) for r in self.manifest.refs if r.kind == kind) or "none"
        raise UsageError(f"{self.id} has no {kind} reference {'.'.join(key)} (known: {known})")

    def prompt_bytes(self, name: str) -> bytes:
        ref = self._ref("prompts", name, "path")
        path = join(self.manifest.base, ref.target)
        followed = follow(self._tree, path)  # a symlinked prompt is the file it leads to, as pinned
        data = self._tree.read(followed.path) if followed.problem is None else None
        if data is None:
            why = followed.problem or followed.dangling or "not in its commit"
            raise CheckFailed(
                f"{self.id}: {path}: {why} (`git modelver verify {self.id}` checks the whole version)"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != ref.pin:
            raise CheckFailed(
                f"{self.id}: {path} hashes to {actual[:12]}…, but {ref.pin_path} pins {str(ref.pin)[:12]}…"
                f" (`git modelver verify {self.id}` checks the whole version)"
            )
        return data

    def prompt(self, name: str) -> str:
        """A prompt template's text (``prompts.NAME``, or a dotted manifest key), pin-checked."""
        return self.prompt_bytes(name).decode("utf-8")

    def weights(self, name: str, *, remote: str | None = None) -> Path:
        """A local path holding ``weights.NAME`` (or a dotted key like ``retrieval.index``), md5-checked.

        The path is under ``.git/modelver/weights/<md5>/`` and carries the output's own name:

        * a file output (``dvc add model.safetensors``) gives the path of that file, whose bytes hash to
          the pinned md5;
        * a directory output (``dvc add adapters/support-lora``, or a stage's folder output such as
          ``data/features``: md5 ``….dir``) gives the path of a **directory** holding every file DVC's
          listing names, each hashing to the md5 the listing records, and nothing else, so it can be
          handed to loaders that expect a folder (``PeftModel.from_pretrained(base, path)``).

        Raises CheckFailed when the pin disagrees with the DVC record, or the bytes cannot be made to
        match it (a corrupt cache, objects missing from the DVC remote).
        """
        ref = self._ref("weights", name, "dvc")
        outs, unresolved = dvcops.outputs(self._tree, self.manifest)
        out = next((o for o in outs if o.ref == ref.dotted), None)
        if out is None:
            raise CheckFailed(
                f"{self.id}: {'; '.join(unresolved)} "
                f"(`git modelver verify {self.id}` checks the whole version)"
            )
        if out.pin != out.md5:
            raise CheckFailed(
                f"{self.id}: {ref.pin_path} pins {str(out.pin)[:12]}…, "
                f"but {out.target} records {out.md5[:12]}… "
                f"(`git modelver verify {self.id}` checks the whole version)"
            )
        return materialize(self.repo, out, remote)


def load(
    ref: str, repo: str | Path | Repo = ".", *, system_name: str | None = None, verify: bool = True
) -> LoadedVersion:
    """The version ``ref`` names (``NAME@vX.Y.Z``; or ``vX.Y.Z`` / a digest prefix with one system).

    With ``verify`` (the default) the tag must pass ``git modelver verify`` first: signature, digests,
    pins, level. Serving a version that does not verify raises CheckFailed.
    """
    r = repo if isinstance(repo, Repo) else Repo(repo)
    if parse_tag(ref.strip()) is not None:
        release = versions.resolve(r, ref)
        # Where the manifest was at the tag: serving must not depend on the working tree.
        sys_ = system.of_release(r, release.name, r.commit(release.commit), release.tag)
    else:
        sys_ = system.select(r, system_name)
        release = versions.resolve(r, ref, sys_.name)
    return from_release(r, sys_, release, verify=verify)


def from_release(repo: Repo, sys_: system.System, release: Release, *, verify: bool = True) -> LoadedVersion:
    if verify:
        report = verify_release(repo, sys_, release)
        if not report.ok:
            bad = report.failures[0]
            raise CheckFailed(f"{release.tag} does not verify: {bad.name}: {bad.detail}")
    commit = repo.git[pygit2.Oid(hex=release.commit)]
    assert isinstance(commit, pygit2.Commit)
    m = manifest_of(repo, sys_, commit, release.tag)  # validated by verify already: the same parse
    if m is None:
        raise UnknownVersion(f"{release.tag} has no {sys_.file}")
    return LoadedVersion(
        release.tag, digest.version_digest(m.data), digest.state_digest(m.data), release.commit, repo, m
    )


def materialize(repo: Repo, out: Output, remote: str | None = None) -> Path:
    """``.git/modelver/weights/<md5>/<name>``: placed once (linked as cache.type says), checked every time.

    For a directory output ``<name>`` is a folder of every file in its listing; the listing itself is kept
    beside it (``listing.json``) to check the folder against on every call.
    """
    folder = repo.state_dir() / "weights" / out.md5
    final = folder / posixpath.basename(out.path)
    hashes = HashCache(repo.state_dir() / "hashes.json")
    if final.exists() and not _problems(hashes, folder, final, out):
        hashes.save()
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process places, the others wait and then reuse it
        if not (final.exists() and not _problems(hashes, folder, final, out)):
            _place_output(repo, out, remote, folder, final, hashes)
        problems = _problems(hashes, folder, final, out)
    hashes.save()
    if problems:
        raise CheckFailed(f"{out.ref}: {problems[0]} (`git modelver verify --deep` shows what is corrupt)")
    return final


def _place_output(
    repo: Repo, out: Output, remote: str | None, folder: Path, final: Path, hashes: HashCache
) -> None:
    store = Store.open(repo.root)
    objs = dvcops.ensure(store, [out], remote, hashes)
    _remove(final)  # broken or partial: it fails its check, nobody can be using it well
    scratch = folder / f".tmp-{uuid.uuid4().hex}"
    try:
        for obj in objs:
            if obj.is_dir:
                shutil.copyfile(store.path(obj), folder / "listing.json")
            else:
                _place(store, obj, scratch / obj.relpath if obj.relpath else scratch, hashes)
        os.replace(scratch, final)
    finally:
        _remove(scratch)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _problems(hashes: HashCache, folder: Path, final: Path, out: Output) -> list[str]:
    """What is wrong with a materialized output; directories are checked file by file against the listing."""
    if not out.is_dir:
        return [] if _md5(hashes, final) == out.md5 else [f"{final} does not hash to {out.md5}"]
    listing = folder / "listing.json"
    if not listing.is_file() or _md5(hashes, listing) != dvcops.md5_of(out.md5):
        return [f"{final}: its listing {out.md5} is missing or corrupt"]
    entries = dvcops.dir_entries(listing.read_bytes())
    problems = [
        f"{final / rel} does not hash to {md5}"
        for rel, md5 in entries
        if not (final / rel).is_file() or _md5(hashes, final / rel) != md5
    ]
    present = {p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file()}
    extra = sorted(present - {rel for rel, _ in entries})
    return problems + [f"{final / rel} is not part of {out.ref}" for rel in extra]


def _md5(hashes: HashCache, path: Path) -> str:
    try:
        return hashes.md5(path)
    except OSError:
        return "-"


def _place(store: Store, obj: Obj, target: Path, hashes: HashCache) -> None:
    """Put one cache object at ``target`` the first way cache.type allows; copying always works."""
    source = store.path(obj)
    target.parent.mkdir(parents=True, exist_ok=True)
    for link in store.links:
        try:
            if link == "reflink":
                _reflink(source, target)
                return
            if link == "hardlink":
                os.link(source, target)
                return
            if link == "symlink":
                os.symlink(source, target)
                return
        except OSError:
            target.unlink(missing_ok=True)  # this file system cannot: try the next way
    _copy_hashing(source, target, obj.md5, hashes)


def _reflink(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    target.chmod(0o444)


def _copy_hashing(source: Path, target: Path, md5: str, hashes: HashCache) -> None:
    """Copy and hash in one pass, so a copied gigabyte is read once, and remember the hash of the copy."""
    h = hashlib.md5()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
    target.chmod(0o444)  # like DVC's cache: weights being served are not edited in place
    if h.hexdigest() == dvcops.md5_of(md5):
        hashes.record(target, h.hexdigest())
