"""``attest VERSION``: an OMS signature over every file of a version, recorded on the attestations branch.

The files are the ones ``reproduce`` lays out (``files``), named by their path in the repository, so the
signature verifies with ``model_signing verify`` on a reproduced folder; the weights come from the DVC
cache (fetched from the DVC remote when absent) and are hashed once per object (``digests``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitmodelver.attest import branch, digests, files, oms
from gitmodelver.attest.statement import signer_hint
from gitmodelver.dvc import dvcops
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import Release

Say = Callable[[str], None]


@dataclass(frozen=True)
class Attested:
    tag: str
    path: str  # on the attestations branch
    added: bool  # False: the branch held this very signature already
    signer: str
    method: str
    files: int
    hashed: int  # DVC objects read for their sha256 (the others were known by md5)
    bundle: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "path": self.path,
            "added": self.added,
            "signer": self.signer,
            "method": self.method,
            "files": self.files,
            "hashed": self.hashed,
        }


def _quiet(_: str) -> None:
    return None


def fetched(repo: Repo, system: System, release: Release, remote: str | None, say: Say) -> files.VersionFiles:
    """The version's files, with every DVC object in the cache (downloaded from ``remote`` when absent)."""
    listed = files.version_files(repo, system, release, None)
    if not listed.outputs:
        return listed
    store = dvcops.Store.open(repo.root)
    lacking = [o for o in listed.outputs if not store.has(dvcops.Obj(o.md5, o.hash_name, o.ref, "", o.path))]
    if lacking:
        url = dvcops.remote_url(repo.root, remote)
        say(f"fetching {len(lacking)} DVC output(s) of {release.tag} from {url}")
    dvcops.ensure(store, listed.outputs, remote, dvcops.HashCache(repo.state_dir() / "hashes.json"))
    return files.version_files(repo, system, release, store)


def sha256s(repo: Repo, listed: files.VersionFiles) -> tuple[dict[str, str], int]:
    """path -> sha256 of every file, and how many DVC objects had to be read."""
    known = digests.ShaByMd5(repo.state_dir() / "sha256.json")
    md5s = dvcops.HashCache(repo.state_dir() / "hashes.json")
    store = dvcops.Store.open(repo.root) if any(f.obj for f in listed.files) else None
    found: dict[str, str] = {}
    hashed = 0
    try:
        for f in listed.files:
            if f.sha256 is not None:
                found[f.path] = f.sha256
            else:
                assert f.obj is not None and store is not None
                found[f.path], read = known.sha256(store, f.obj, md5s)
                hashed += read
    finally:
        known.save()
        md5s.save()
    return found, hashed


def attest(
    repo: Repo,
    system: System,
    release: Release,
    how: oms.SignWith,
    *,
    remote: str | None = None,
    say: Say = _quiet,
) -> Attested:
    listed = fetched(repo, system, release, remote, say)
    found, hashed = sha256s(repo, listed)
    ignore = files.ignored(repo, repo.commit(release.commit), listed.files)
    say(f"signing {len(found)} file(s) of {release.tag} ({how.method})")
    bundle = oms.sign(how, release.tag, found, ignore, listed.binding.as_predicate())
    signer = signer_hint(bundle)
    path, added = branch.add(repo, release.tag, bundle, f"attest {release.tag} ({signer})")
    return Attested(release.tag, path, added, signer, how.method, len(found), hashed, bundle)
