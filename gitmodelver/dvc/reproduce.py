"""Materializing a released version (SPEC §5 ``reproduce``): a worktree at the tag plus its DVC outputs.

The objects are fetched into the repository's own cache first (nothing is created if that fails), the
worktree shares that cache, and DVC links the outputs the way ``cache.type`` says: gigabytes of weights
are linked, not copied, whenever the user allowed it. Then every materialized output is checked against
the release's pins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitmodelver import output
from gitmodelver.dvc import dvcops
from gitmodelver.dvc.dvcops import HashCache, Obj, Output, Store
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.verify import Check, VersionReport, manifest_of, verify_release

Say = Callable[[str], None]


@dataclass(frozen=True)
class Materialized:
    """One DVC output as it landed in the worktree."""

    ref: str
    path: str
    md5: str
    link: str  # hardlink, symlink or copy (a reflink looks like a copy)
    files: int
    size: int
    problems: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "path": self.path,
            "md5": self.md5,
            "link": self.link,
            "files": self.files,
            "size": self.size,
            "ok": not self.problems,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Reproduction:
    tag: str
    commit: str
    dir: Path
    weights: list[Materialized]
    report: VersionReport

    @property
    def ok(self) -> bool:
        return self.report.ok

    def as_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "commit": self.commit,
            "dir": str(self.dir),
            "ok": self.ok,
            "weights": [w.as_json() for w in self.weights],
            "checks": [c.as_json() for c in self.report.checks],
        }


def _quiet(_: str) -> None:
    return None


def reproduce(
    repo: Repo,
    system: System,
    release: Release,
    dest: Path,
    *,
    weights: bool = True,
    remote: str | None = None,
    deep: bool = False,
    say: Say = _quiet,
) -> Reproduction:
    """A new worktree at ``release`` in ``dest``, with its weights, verified."""
    outs = _outputs(repo, system, release) if weights else []
    _check_dest(dest)
    hashes = HashCache(repo.state_dir() / "hashes.json")
    store = _fetch(repo.root, outs, remote, say, hashes) if outs and (repo.root / ".dvc").is_dir() else None
    repo.run("worktree", "add", "--detach", str(dest), release.commit)
    try:
        if outs and store is None:  # DVC only in the version, not in the main checkout
            store = _fetch(dest, outs, remote, say, hashes)
        done = _checkout(repo, store, dest, outs, deep, say) if store is not None else []
    except BaseException:
        repo.run("worktree", "remove", "--force", str(dest), check=False)
        raise
    return _result(repo, system, release, dest, done, weights=weights)


def _outputs(repo: Repo, system: System, release: Release) -> list[Output]:
    commit = repo.git[pygit2.Oid(hex=release.commit)]
    assert isinstance(commit, pygit2.Commit)
    tree = repo.commit_tree(commit, release.tag)
    m = manifest_of(repo, system, commit, release.tag)  # validated: its paths become DVC targets
    if m is None:
        raise UsageError(f"{release.tag} has no {system.file}: pass --system for the right folder")
    outs, unresolved = dvcops.outputs(tree, m)
    if unresolved:
        raise UsageError(
            f"{release.tag}: {unresolved[0]} (`git modelver verify {release.tag}` checks the whole version)"
        )
    return outs


def _check_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} already exists and is not empty: choose a new folder for --to")


def _fetch(root: Path, outs: list[Output], remote: str | None, say: Say, hashes: HashCache) -> Store:
    """Make the cache of ``root`` hold every object of ``outs``, downloading what it lacks."""
    store = Store.open(root)
    # An output lacks something when its object, or one file its directory listing names, is not cached.
    lacking = [o for o in outs if not all(store.has(x) for x in store.expand(o)[0])]
    if lacking:
        size = sum(o.size or 0 for o in lacking)
        url = dvcops.remote_url(root, remote)
        say(f"fetching {len(lacking)} output(s) ({output.size(size)}) from DVC remote {url}")
    objs = dvcops.ensure(store, outs, remote, hashes)
    if len(objs) > len(outs) and not lacking:
        say(f"{len(objs)} object(s) in the DVC cache")
    return store


def _checkout(
    repo: Repo, store: Store, dest: Path, outs: list[Output], deep: bool, say: Say
) -> list[Materialized]:
    dvcops.share_cache(store, dest)
    hashes = HashCache(repo.state_dir() / "hashes.json")
    objs = {o.ref: store.expand(o)[0] for o in outs}
    # Hash the objects the hash cache does not vouch for while DVC links them: two cores, half the wait.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = _prehash(pool, store, hashes, [x for group in objs.values() for x in group], deep)
        say(f"checking out {len(outs)} output(s) with cache.type {','.join(store.links)}")
        dvcops.checkout(dest, [o.target for o in outs])
        for path, future in pending.items():
            hashes.record(Path(path), future.result())
    done = [_examine(store, hashes, dest, out, objs[out.ref], deep) for out in outs]
    hashes.save()
    return done


def _prehash(
    pool: ThreadPoolExecutor, store: Store, hashes: HashCache, objs: list[Obj], deep: bool
) -> dict[str, Future[str]]:
    pending: dict[str, Future[str]] = {}
    for obj in objs:
        path = store.path(obj)
        if (deep or hashes.cached(path) is None) and str(path) not in pending:
            pending[str(path)] = pool.submit(dvcops.md5_file, path)
    return pending


def _examine(
    store: Store, hashes: HashCache, dest: Path, out: Output, objs: list[Obj], deep: bool
) -> Materialized:
    """Check one output in the worktree against the release's pin, object by object."""
    problems = []
    if out.pin is not None and out.pin != out.md5:
        problems.append(f"{out.ref}: pinned {out.pin[:12]}…, but the DVC record says {out.md5[:12]}…")
    links, size = set(), 0
    for obj in objs:
        source = store.path(obj)
        size += 0 if obj.is_dir else source.stat().st_size
        if hashes.md5(source) != dvcops.md5_of(obj.md5):
            problems.append(
                f"{obj.where}: its cache object {source} is corrupt "
                "(delete it and run again to fetch it from the DVC remote)"
            )
            continue
        if obj.is_dir:
            problems += _extra_files(dest, out, objs)
            continue
        target = dest / out.path / obj.relpath if obj.relpath else dest / out.path
        link, problem = _compare(target, source, obj.md5, deep)
        links.add(link)
        if problem:
            problems.append(f"{out.ref}: {target.relative_to(dest)} {problem}")
    files = len([o for o in objs if not o.is_dir])
    return Materialized(
        out.ref, out.path, out.md5, "/".join(sorted(links)) or "-", files, size, tuple(problems)
    )


def _compare(target: Path, source: Path, md5: str, deep: bool) -> tuple[str, str | None]:
    """How ``target`` relates to the cache object ``source``, and what is wrong with it."""
    if not target.exists():
        return "missing", "was not materialized"
    if os.path.samefile(target, source):
        return ("symlink" if target.is_symlink() else "hardlink"), None
    if target.stat().st_size != source.stat().st_size:
        return "copy", "differs in size from its cache object"
    if deep and dvcops.md5_file(target) != md5:
        return "copy", f"does not hash to {md5[:12]}…"
    return "copy", None


def _extra_files(dest: Path, out: Output, objs: list[Obj]) -> list[str]:
    """Files in a materialized directory output that its listing does not name."""
    folder = dest / out.path
    listed = {o.relpath for o in objs if o.relpath}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(present - listed)
    return (
        [f"{out.ref}: {out.path}/{extra[0]} is not part of the release ({len(extra)} extra file(s))"]
        if extra
        else []
    )


def _result(
    repo: Repo, system: System, release: Release, dest: Path, done: list[Materialized], *, weights: bool
) -> Reproduction:
    report = verify_release(repo, system, release)
    problems = [p for m in done for p in m.problems]
    if not weights:
        check = Check("materialized", True, "weights not materialized (--no-weights)")
    elif problems:
        check = Check("materialized", False, "; ".join(problems[:5]))
    else:
        files = sum(m.files for m in done)
        check = Check(
            "materialized", True, f"{len(done)} DVC output(s), {files} file(s) match the release's pins"
        )
    full = VersionReport(report.tag, [*report.checks, check])
    return Reproduction(release.tag, release.commit, dest, done, full)
