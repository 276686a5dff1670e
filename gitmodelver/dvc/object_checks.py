"""The DVC side of ``verify``: objects in the cache and rehashed (``--deep``), on a remote (``--remote``)."""

from __future__ import annotations

from collections.abc import Callable

from gitmodelver.core.manifest import Manifest
from gitmodelver.dvc import access, dvcops
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
        self.on_remote_md5: dict[tuple[str, str], str | None] = {}  # with ``deep``: the remote bytes' md5
        self.rehashed: dict[str, str] = {}  # object path -> md5, so shared weights hash once per run
        self.stated = 0  # objects compared with the MD5 their storage states (without --deep)
        # a directory output's md5 -> its files (listings possibly read from the remote), or None and why
        self.listings: dict[str, tuple[list[tuple[str, str]] | None, str]] = {}

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
            except access.RemoteAccessError:
                raise  # credentials, profile, endpoint: the user's to fix before any check means anything
            except ModelverError as exc:
                checks.error = str(exc)
        return checks

    def _query_remote(self, ctx: Context, store: dvcops.Store, releases: list[Release]) -> None:
        """One existence query for the objects of every version, instead of one per version; with
        ``deep`` the objects the remote has are read through and hashed too (once each)."""
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
                if out.is_dir and out.md5 not in self.listings:
                    self.listings[out.md5] = store.listing(out, remote_read=reader)
                wanted += _objects(out, self.listings.get(out.md5, ([], ""))[0])
        missing = dvcops.remote_missing(store.root, wanted, self.remote)
        self.on_remote_missing = {(o.md5, o.hash_name) for o in missing}
        present = [o for o in wanted if (o.md5, o.hash_name) not in self.on_remote_missing]
        if self.deep:
            self.on_remote_md5 = dvcops.remote_md5s(store.root, present, self.remote)
        else:
            self._compare_stated(store, present)

    def _compare_stated(self, store: dvcops.Store, present: list[dvcops.Obj]) -> None:
        """Objects whose stored MD5 (S3's ETag, …) disagrees with their name are read to confirm it.

        An ETag that is no MD5 of the bytes (a KMS-encrypted object) reads back fine: from then on this
        remote's ETags are not believed, so such a bucket costs one download, never a false report.
        """
        stated = dvcops.remote_stated_md5s(store.root, present, self.remote)
        self.stated = len(stated)
        by_key = {(o.md5, o.hash_name): o for o in present}
        for key in sorted(k for k, value in stated.items() if value != dvcops.md5_of(k[0])):
            actual = dvcops.remote_md5s(store.root, [by_key[key]], self.remote).get(key)
            if actual == dvcops.md5_of(key[0]):
                self.stated = 0
                return
            self.on_remote_md5[key] = actual

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
                if store.has(objs[0]):  # there, but it does not hash to its name
                    corrupt.append(f"{store.listing(out)[1]}: the folder's files cannot be checked")
                else:
                    missing.append(f"{objs[0].where} ({out.md5})")
                continue
            for obj in objs:
                path = store.path(obj)
                if not path.is_file():
                    missing.append(f"{obj.where} ({obj.md5})")
                    continue
                count += 1
                if str(path) not in self.rehashed:
                    self.rehashed[str(path)] = dvcops.md5_file(path)
                if self.rehashed[str(path)] != dvcops.md5_of(obj.md5):
                    corrupt.append(
                        f"{obj.where}: cache object {path} hashes to {self.rehashed[str(path)][:12]}…, "
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
        missing, changed, unlisted, count = [], [], [], 0
        for out in outs:
            entries, why = ([], "") if not out.is_dir else self.listings.get(out.md5) or store.listing(out)
            for obj in _objects(out, entries):
                count += 1
                key = (obj.md5, obj.hash_name)
                actual = self.on_remote_md5.get(key)
                if key in self.on_remote_missing:
                    missing.append(f"{obj.where} ({obj.md5})")
                elif actual is not None and actual != dvcops.md5_of(obj.md5):
                    changed.append(
                        f"{obj.where}: the remote's object hashes to {actual[:12]}…, not {obj.md5[:12]}…"
                    )
            if entries is None and (out.md5, out.hash_name) not in self.on_remote_missing:
                unlisted.append(f"{why}: the folder's files cannot be checked")
        url = dvcops.remote_url(store.root, self.remote)
        problems = []
        if missing:
            problems.append(
                f"not on DVC remote {url}: "
                + "; ".join(missing[:5])
                + f": push them (`git modelver push`, or `dvc push` at {release.tag})"
            )
        if changed:
            problems.append(
                f"changed on DVC remote {url}: "
                + "; ".join(changed[:5])
                + ": delete those remote objects, then `git modelver push` from a clone whose cache passes "
                "`git modelver verify --deep`"
            )
        problems += unlisted[:5]
        if problems:
            return Check("dvc-remote", False, "; ".join(problems))
        how = (
            ", each rehashed" if self.deep else ", their MD5 as the storage states it" if self.stated else ""
        )
        return Check("dvc-remote", True, f"{count} object(s) on {url}{how}")


def _objects(out: dvcops.Output, entries: list[tuple[str, str]] | None) -> list[dvcops.Obj]:
    """An output's objects: itself and, for a directory, every file its listing names."""
    top = dvcops.Obj(out.md5, out.hash_name, out.ref, "", out.path)
    return [top, *(dvcops.Obj(md5, out.hash_name, out.ref, rel, out.path) for rel, md5 in entries or [])]


def factory(remote: str | None, deep: bool) -> Callable[[Context, list[Release]], DvcChecks]:
    """The DVC checks for ``verify_releases(extra=…)``; ``remote``: None skips it, "" is the default one."""

    def make(ctx: Context, releases: list[Release]) -> DvcChecks:
        return DvcChecks.prepare(ctx, releases, remote=remote, deep=deep)

    return make
