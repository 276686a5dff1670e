"""The DVC side of ``verify``: objects in the cache and rehashed (``--deep``), on a remote (``--remote``)."""

from __future__ import annotations

from collections.abc import Callable

from gitmodelver.core.manifest import Manifest
from gitmodelver.dvc import dvcops
from gitmodelver.errors import ManifestError, ModelverError
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.checks import Check
from gitmodelver.release.verify import Context


class DvcChecks:
    """The DVC checks: objects present in the cache and rehashing (``deep``), present on a remote."""

    def __init__(self, store: dvcops.Store | None, error: str | None, remote: str | None, deep: bool) -> None:
        self.store = store  # None with ``error`` saying why
        self.error = error
        self.remote = remote
        self.deep = deep
        self.on_remote_missing: set[tuple[str, str]] = set()
        self.rehashed: dict[str, str] = {}  # object path -> md5, so shared weights hash once per run
        # output md5 -> its objects (directory listings possibly read from the remote)
        self.expanded: dict[str, list[dvcops.Obj]] = {}

    @classmethod
    def prepare(cls, ctx: Context, releases: list[Release], *, remote: str | None, deep: bool) -> DvcChecks:
        if ctx.repo.bare:
            return cls(None, "a bare repository has no DVC cache or config: run it in a clone", remote, deep)
        try:
            store = dvcops.Store.open(ctx.repo.root)
        except ModelverError as exc:
            return cls(None, str(exc), remote, deep)
        checks = cls(store, None, remote, deep)
        if remote is not None:
            try:
                checks._query_remote(ctx, store, releases)
            except ModelverError as exc:
                checks.error = str(exc)
        return checks

    def _query_remote(self, ctx: Context, store: dvcops.Store, releases: list[Release]) -> None:
        """One existence query for the objects of every version, instead of one per version."""
        reader = dvcops.remote_reader(store.root, self.remote)
        wanted: list[dvcops.Obj] = []
        for release in releases:
            commit = ctx.commit(release.commit)
            try:
                m = ctx.manifest_at(commit, release.tag) if commit is not None else None
            except ManifestError:
                m = None
            if m is None or commit is None:
                continue
            outs, _ = dvcops.outputs(CommitTree(ctx.repo.git, commit, release.tag), m)
            for out in outs:
                if out.md5 not in self.expanded:
                    self.expanded[out.md5] = store.expand(out, remote_read=reader)[0]
                    wanted += self.expanded[out.md5]
        missing = dvcops.remote_missing(store.root, wanted, self.remote)
        self.on_remote_missing = {(o.md5, o.hash_name) for o in missing}

    def checks(self, release: Release, m: Manifest, tree: CommitTree) -> list[Check]:
        names = (["dvc-cache", "dvc-rehash"] if self.deep else []) + (
            ["dvc-remote"] if self.remote is not None else []
        )
        if self.store is None or self.error is not None:
            return [Check(name, False, str(self.error)) for name in names]
        outs, unresolved = dvcops.outputs(tree, m)
        if unresolved:
            return [Check(name, False, "; ".join(unresolved)) for name in names]
        result = []
        if self.deep:
            result += self._cache_checks(self.store, release, outs)
        if self.remote is not None:
            result.append(self._remote_check(self.store, release, outs))
        return result

    def _cache_checks(self, store: dvcops.Store, release: Release, outs: list[dvcops.Output]) -> list[Check]:
        missing, corrupt, count = [], [], 0
        for out in outs:
            objs, known = store.expand(out)
            if not known:
                missing.append(f"{out.ref}: {out.path} ({out.md5})")
                continue
            for obj in objs:
                path = store.path(obj)
                if not path.is_file():
                    missing.append(f"{_where(obj)} ({obj.md5})")
                    continue
                count += 1
                if str(path) not in self.rehashed:
                    self.rehashed[str(path)] = dvcops.md5_file(path)
                if self.rehashed[str(path)] != dvcops.md5_of(obj.md5):
                    corrupt.append(
                        f"{_where(obj)}: cache object {path} hashes to {self.rehashed[str(path)][:12]}…, "
                        f"not {obj.md5[:12]}…"
                    )
        cache = Check("dvc-cache", True, f"{count} object(s) in {store.cache}")
        if missing:
            cache = Check(
                "dvc-cache",
                False,
                f"not in the DVC cache {store.cache}: "
                + "; ".join(missing[:5])
                + f": fetch them with `git modelver reproduce {release.tag} --to DIR` or `dvc fetch -T`",
            )
        rehash = Check("dvc-rehash", True, f"{count} cached object(s) rehash to their md5")
        if corrupt:
            rehash = Check(
                "dvc-rehash",
                False,
                "; ".join(corrupt[:5]) + ": the cache is corrupt; delete those files and fetch them again "
                "(`dvc fetch -T`)",
            )
        return [cache, rehash]

    def _remote_check(self, store: dvcops.Store, release: Release, outs: list[dvcops.Output]) -> Check:
        missing, count = [], 0
        for out in outs:
            objs = self.expanded.get(out.md5) or store.expand(out)[0]
            for obj in objs:
                count += 1
                if (obj.md5, obj.hash_name) in self.on_remote_missing:
                    missing.append(f"{_where(obj)} ({obj.md5})")
        url = dvcops.remote_url(store.root, self.remote)
        if missing:
            return Check(
                "dvc-remote",
                False,
                f"not on DVC remote {url}: "
                + "; ".join(missing[:5])
                + f": push them (`git modelver push`, or `dvc push` at {release.tag})",
            )
        return Check("dvc-remote", True, f"{count} object(s) on {url}")


def _where(obj: dvcops.Obj) -> str:
    return obj.owner + (f"/{obj.relpath}" if obj.relpath else "")


def factory(remote: str | None, deep: bool) -> Callable[[Context, list[Release]], DvcChecks]:
    """The DVC checks for ``verify_releases(extra=…)``; ``remote``: None skips it, "" is the default one."""

    def make(ctx: Context, releases: list[Release]) -> DvcChecks:
        return DvcChecks.prepare(ctx, releases, remote=remote, deep=deep)

    return make
