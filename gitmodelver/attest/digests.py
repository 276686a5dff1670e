"""sha256 of DVC objects, hashed once per object and remembered by its md5 (DVC's name for it).

An OMS signature lists sha256 digests; DVC names objects by md5. A 1 GiB adapter shared by many versions
is read once: its md5 must be the object's name (a corrupt cache object is never signed), so both digests
come from one pass over its bytes unless the md5 of the unchanged file is known already (``HashCache``),
and the pair is kept in ``.git/modelver/sha256.json``. The map is
used only to sign: verification hashes the bytes again, or leaves them to the signing library.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitmodelver.dvc import dvcops
from gitmodelver.errors import CheckFailed

CHUNK = 4 << 20


def both(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file in one read, the two hashes on two threads (hashlib lets go of the GIL)."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f, ThreadPoolExecutor(max_workers=1) as pool:
        while chunk := f.read(CHUNK):
            pending = pool.submit(md5.update, chunk)
            sha.update(chunk)
            pending.result()
    return md5.hexdigest(), sha.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class ShaByMd5:
    """md5 -> sha256 of DVC objects already hashed; written atomically, a lost write costs a rehash."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries: dict[str, str] = {}
        self.dirty = False
        try:
            doc = json.loads(file.read_text("utf-8"))
            if isinstance(doc, dict):
                self.entries = {str(k): str(v) for k, v in doc.items()}
        except (OSError, ValueError):
            pass

    def sha256(
        self, store: dvcops.Store, obj: dvcops.Obj, md5s: dvcops.HashCache | None = None
    ) -> tuple[str, bool]:
        """The sha256 of ``obj``'s bytes, and whether they were read for it. ``md5s``: the md5s of cache
        objects already hashed (``dvcops.HashCache``, trusted while the file is unchanged, as ``reproduce``
        and ``verify`` trust it), so a confirmed object is read for its sha256 alone."""
        md5 = dvcops.md5_of(obj.md5)
        known = self.entries.get(md5)
        if known is not None:
            return known, False
        path = store.path(obj)
        confirmed = md5s.cached(path) if md5s is not None else None
        if confirmed == md5:
            actual, sha = md5, sha256_file(path)
        else:
            actual, sha = both(path)
            if md5s is not None:
                md5s.record(path, actual)
        if actual != md5:
            raise CheckFailed(
                f"{obj.where}: its DVC cache object {path} hashes to {actual[:12]}…, not {md5[:12]}…: "
                "nothing was signed",
                fix=f"rm {path}",  # removed, it is fetched again from the DVC remote
            )
        self.entries[md5] = sha
        self.dirty = True
        return sha, True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.entries, sort_keys=True), "utf-8")
            os.replace(tmp, self.file)
            self.dirty = False
        except OSError:
            tmp.unlink(missing_ok=True)
