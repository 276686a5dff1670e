"""Every call into DVC: the objects a version needs, the cache, remotes, fetch, checkout and push.

What a version needs is read from Git (pointer files and dvc.lock as YAML, see ``dvcfiles``); DVC moves
and links the bytes. DVC is imported inside the functions that use it, so hooks and plain ``verify``
never pay for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import shlex
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.core import dvcfiles
from gitmodelver.core.filerefs import Tree, in_git_dir, join
from gitmodelver.core.manifest import Manifest
from gitmodelver.dvc import access
from gitmodelver.errors import CheckFailed, ModelverError, UsageError

MD5 = "md5"  # DVC 3 outputs: objects under cache/files/md5
LEGACY = "md5-dos2unix"  # DVC 2 outputs: objects at the top of the cache
DEFAULT_LINKS = ("reflink", "copy")  # DVC's own default for cache.type
LOCAL_REMOTE = "modelver-local"


@dataclass(frozen=True)
class Output:
    """One DVC output that a manifest references, as recorded at one commit."""

    ref: str  # the manifest key, e.g. "weights.adapter"
    path: str  # repo-relative path of the output
    md5: str  # what the pointer / dvc.lock records ("….dir" for directories)
    pin: str | None  # what the manifest pins
    hash_name: str  # MD5 or LEGACY
    target: str  # what to hand DVC: the pointer file, or the dvc.lock output path
    size: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


@dataclass(frozen=True)
class Obj:
    """One content-addressed object in a DVC cache or remote."""

    md5: str
    hash_name: str
    owner: str  # the manifest key it belongs to, for messages
    relpath: str = ""  # inside a directory output; "" for the output itself
    path: str = ""  # the output's repo-relative path, for messages

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    @property
    def where(self) -> str:
        """``weights.lora: adapters/lora/adapter_model.safetensors``: the component, the output, the file."""
        if not self.path:
            return self.owner + (f"/{self.relpath}" if self.relpath else "")
        if self.is_dir:
            return f"{self.owner}: {self.path} (DVC's listing of the folder)"
        return f"{self.owner}: {self.path}" + (f"/{self.relpath}" if self.relpath else "")


def _hash_name(tree: Tree, out: dvcfiles.DvcOut) -> str:
    """DVC 3 writes ``hash: md5`` next to each output; outputs without it are DVC 2 (legacy) ones."""
    raw = tree.read(out.source)
    doc = dvcfiles.parse_yaml(raw) if raw is not None else None
    if not isinstance(doc, dict):
        return MD5
    if out.stage is not None:
        entries = ((doc.get("stages") or {}).get(out.stage) or {}).get("outs") or []
        folder = posixpath.dirname(out.source)
    else:
        entries = doc.get("outs") or []
        folder = dvcfiles.pointer_folder(doc, out.source)
    for entry in entries:
        if isinstance(entry, dict) and join(folder, str(entry.get("path", ""))) == out.path:
            return MD5 if entry.get("hash") == MD5 else LEGACY
    return MD5


def _target(tree: Tree, repo_path: str, out: dvcfiles.DvcOut) -> str:
    if repo_path.endswith(".dvc"):
        return repo_path
    if tree.exists(repo_path + ".dvc"):
        return repo_path + ".dvc"
    return out.path


def outputs(tree: Tree, m: Manifest) -> tuple[list[Output], list[str]]:
    """The DVC outputs the manifest references in ``tree``, and the references that resolve to none."""
    found, unresolved = [], []
    for ref in m.refs:
        if ref.kind != "dvc":
            continue
        repo_path = join(m.base, ref.target)
        out = dvcfiles.resolve(tree, repo_path)
        if out is None:
            unresolved.append(f"{ref.dotted}: {repo_path} records no DVC output")
            continue
        target = _target(tree, repo_path, out)
        found.append(Output(ref.dotted, out.path, out.md5, ref.pin, _hash_name(tree, out), target, out.size))
    return found, unresolved


def object_path(cache: Path, md5: str, hash_name: str) -> Path:
    base = cache / "files" / "md5" if hash_name == MD5 else cache
    return base / md5[:2] / md5[2:]


def dir_entries(data: bytes) -> list[tuple[str, str]]:
    """(relpath, md5) of every file a ``.dir`` object lists (unchecked: see ``listing_problem``)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(doc, list):
        return []
    return [
        (str(e["relpath"]), str(e["md5"]))
        for e in doc
        if isinstance(e, dict) and isinstance(e.get("relpath"), str) and isinstance(e.get("md5"), str)
    ]


def md5_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def md5_of(md5: str) -> str:
    """The hash an object's bytes must have: a ``.dir`` object is named after the md5 of its listing."""
    return md5.removesuffix(".dir")


def listing_problem(data: bytes, md5: str) -> str | None:
    """Why the bytes of a ``.dir`` object cannot be trusted as the listing named ``md5``; None when they can.

    A listing names the files to check out, so one that does not hash to its name, or that names a
    path leaving its folder (an attacker may publish a listing whose md5 they pinned), is never used.
    """
    actual = hashlib.md5(data).hexdigest()
    if actual != md5_of(md5):
        return f"hashes to {actual[:12]}…, not {md5_of(md5)[:12]}…"
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "is not a JSON listing"
    if not isinstance(doc, list) or len(dir_entries(data)) != len(doc):
        return "is not a list of {md5, relpath} entries"
    for rel, _ in dir_entries(data):
        if rel.startswith("/") or "\0" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
            return f"names '{rel}', a path outside the folder"
        if in_git_dir(rel):
            return f"names '{rel}', a path inside .git"
    return None


class HashCache:
    """md5s of files already hashed, trusted while inode, size and mtime are unchanged.

    This is the bargain DVC's own state makes: an edit moves mtime, so a cached hash never outlives it;
    bit rot (and a deliberately restored mtime) escapes it, which is what ``--deep`` rehashes for.
    ctime is left out on purpose: every hardlink DVC makes to a cache object changes the object's ctime,
    which would make ``cache.type = hardlink`` rehash gigabytes on every checkout.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            doc = json.loads(file.read_text("utf-8"))
            if isinstance(doc, dict):
                self.entries = doc
        except (OSError, ValueError):
            pass

    @staticmethod
    def _key(st: os.stat_result) -> list[int]:
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    def cached(self, path: Path, st: os.stat_result | None = None) -> str | None:
        """The md5 recorded for ``path`` while it is unchanged, else None."""
        entry = self.entries.get(str(path))
        if entry is not None and entry[:-1] == self._key(st or path.stat()):
            return str(entry[-1])
        return None

    def md5(self, path: Path, *, rehash: bool = False) -> str:
        st = path.stat()
        known = None if rehash else self.cached(path, st)
        if known is not None:
            return known
        value = md5_file(path)
        self.record(path, value, st)
        return value

    def record(self, path: Path, md5: str, st: os.stat_result | None = None) -> None:
        self.entries[str(path)] = [*self._key(st or path.stat()), md5]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.entries), "utf-8")
            os.replace(tmp, self.file)
            self.dirty = False
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache we cannot write only costs a rehash next time


@dataclass(frozen=True)
class Store:
    """The DVC side of one working tree: where its cache is, how it links, which remote is default."""

    root: Path
    cache: Path
    links: tuple[str, ...]
    default_remote: str | None

    @classmethod
    def open(cls, root: Path) -> Store:
        if not (root / ".dvc").is_dir():
            raise UsageError(f"{root}: DVC is not initialized here", fix="dvc init")
        conf = _config(root)
        cache = conf["cache"].get("dir")
        links = conf["cache"].get("type")
        if isinstance(links, str):
            links = [t.strip() for t in links.split(",") if t.strip()]
        return cls(
            root,
            Path(cache) if cache else root / ".dvc" / "cache",
            tuple(links) if links else DEFAULT_LINKS,
            conf["core"].get("remote"),
        )

    @property
    def links_configured(self) -> bool:
        return self.links != DEFAULT_LINKS

    def path(self, obj: Obj) -> Path:
        return object_path(self.cache, obj.md5, obj.hash_name)

    def has(self, obj: Obj) -> bool:
        return self.path(obj).is_file()

    def expand(self, out: Output, *, remote_read: Any = None) -> tuple[list[Obj], bool]:
        """Every object of ``out`` (a directory's listing and its files); False when the listing is unknown.

        ``remote_read(obj) -> bytes | None`` fetches a listing the cache lacks (or holds corrupt), without
        storing it. A listing is used only once it hashes to its md5 (``listing_problem``).
        """
        top = Obj(out.md5, out.hash_name, out.ref, "", out.path)
        if not out.is_dir:
            return [top], True
        entries, _ = self.listing(out, remote_read=remote_read)
        if entries is None:
            return [top], False
        return [top, *(Obj(md5, out.hash_name, out.ref, rel, out.path) for rel, md5 in entries)], True

    def listing(self, out: Output, *, remote_read: Any = None) -> tuple[list[tuple[str, str]] | None, str]:
        """The (relpath, md5) a directory output lists, from the cache or else the remote; or None and why."""
        top = Obj(out.md5, out.hash_name, out.ref, "", out.path)
        why = f"{top.where} ({out.md5}) is not in the DVC cache {self.cache}"
        if self.has(top):
            data = self.path(top).read_bytes()
            problem = listing_problem(data, out.md5)
            if problem is None:
                return dir_entries(data), ""
            why = f"{top.where}: the DVC cache's copy {self.path(top)} {problem}"
        fetched: bytes | None = remote_read(top) if remote_read is not None else None
        if fetched is None:
            return None, why
        problem = listing_problem(fetched, out.md5)
        if problem is not None:
            return None, f"{why}; the DVC remote's copy {problem}"
        return dir_entries(fetched), ""

    def cached_listing(self, md5: str) -> tuple[list[tuple[str, str]], str] | None:
        """The files a ``.dir`` object in this cache lists, and its hash name; None when absent or corrupt."""
        for hash_name in (MD5, LEGACY):
            path = object_path(self.cache, md5, hash_name)
            if path.is_file():
                data = path.read_bytes()
                if listing_problem(data, md5) is None:
                    return dir_entries(data), hash_name
        return None


def _config(root: Path) -> Any:
    from dvc.config import Config, ConfigError

    try:
        return Config(dvc_dir=str(root / ".dvc"))
    except ConfigError as exc:
        raise UsageError(
            f"{root}/.dvc: {exc}; correct the DVC configuration (`dvc config --list` shows it)"
        ) from exc


@contextmanager
def _dvc(root: Path, remote: str | None = None, *, storage: bool = False) -> Iterator[Any]:
    """A DVC repository object, with DVC's errors turned into ours.

    ``storage``: the work talks to the DVC remote ``remote`` (None: the default one), so an error about
    access to it (credentials, profile, endpoint) is explained as such, in one line (``access``).
    """
    from dvc.config import NoRemoteError, RemoteConfigError

    with access.logged_errors() as logged:
        try:
            from dvc.repo import Repo as DvcRepo

            with DvcRepo(str(root)) as dvc_repo:
                yield dvc_repo
            if storage and logged:  # DVC went on past a refused transfer: say why it was refused
                explained = _explain(logged, root, remote)
                if explained is not None:
                    raise explained from logged[0]
        except NoRemoteError as exc:
            raise UsageError(
                "no DVC remote is configured: add one with `dvc remote add -d` and its URL"
            ) from exc
        except RemoteConfigError as exc:
            raise UsageError(f"DVC remote: {exc} (`dvc remote list` shows the remotes)") from exc
        except ModelverError:
            raise
        except Exception as exc:
            translated = _translate(exc, root, remote, storage, logged)
            if translated is exc:
                raise
            raise translated from exc


def _translate(
    exc: Exception, root: Path, remote: str | None, storage: bool, logged: list[BaseException]
) -> Exception:
    """Our error for what DVC (or the storage library under it) raised; ``exc`` itself when unknown.

    DVC reports a failed transfer as a count ("2 files failed to upload") and logs each file's error:
    those logged errors are looked at too, so a key that may read but not write is named as such.
    """
    from dvc.exceptions import DvcException

    explained = _explain([exc, *logged], root, remote) if storage else None
    if explained is not None:
        return explained
    if isinstance(exc, DvcException):
        return CheckFailed(f"dvc: {exc} (--debug shows DVC's traceback)")
    if isinstance(exc, OSError):  # a remote or cache that cannot be read or written: the user's to fix
        return CheckFailed(
            f"DVC storage is not usable: {exc} (check the remote's URL with `dvc remote list`, and your "
            "access to it)"
        )
    return exc


def _explain(errors: list[BaseException], root: Path, remote: str | None) -> ModelverError | None:
    described = _describe_remote(root, remote)
    for candidate in errors:
        explained = access.explain(candidate, root, described, lambda: _probe(root, remote))
        if explained is not None:
            return explained
    return None


def _describe_remote(root: Path, remote: str | None) -> access.Remote | None:
    try:
        return access.describe(_config(root), remote)
    except ModelverError:
        return None


def _probe(root: Path, remote: str | None) -> BaseException | None:
    """One listing of the remote, to learn why it refused a request whose answer had no body."""
    try:
        from dvc.repo import Repo as DvcRepo

        with DvcRepo(str(root)) as dvc_repo:
            odb = _remote_odb(dvc_repo, remote, MD5)
            odb.fs.ls(odb.path)
    except Exception as exc:
        return exc
    return None


def _hash_infos(objs: Iterable[Obj]) -> list[Any]:
    from dvc_data.hashfile.hash_info import HashInfo

    return [HashInfo(o.hash_name, o.md5) for o in {(o.md5, o.hash_name): o for o in objs}.values()]


def _remote_odb(dvc_repo: Any, remote: str | None, hash_name: str) -> Any:
    return dvc_repo.cloud.get_remote_odb(remote or None, "push", hash_name=hash_name)


def remote_missing(root: Path, objs: Iterable[Obj], remote: str | None) -> list[Obj]:
    """The objects the DVC remote does not hold."""
    objs = list(objs)
    missing: list[Obj] = []
    with _dvc(root, remote, storage=True) as dvc_repo:
        for hash_name in {o.hash_name for o in objs}:
            group = [o for o in objs if o.hash_name == hash_name]
            odb = _remote_odb(dvc_repo, remote, hash_name)
            present = set(odb.oids_exist(sorted({o.md5 for o in group})))
            missing += [o for o in group if o.md5 not in present]
    return missing


def remote_reader(root: Path, remote: str | None) -> Any:
    """A function reading one object's bytes from the remote (for ``.dir`` listings the cache lacks)."""

    def read(obj: Obj) -> bytes | None:
        with _dvc(root, remote, storage=True) as dvc_repo:
            odb = _remote_odb(dvc_repo, remote, obj.hash_name)
            try:
                return bytes(odb.fs.cat_file(odb.oid_to_path(obj.md5)))
            except FileNotFoundError:  # a refusal is no absence: _dvc says what it is
                return None

    return read


def remote_md5s(root: Path, objs: Iterable[Obj], remote: str | None) -> dict[tuple[str, str], str | None]:
    """The md5 of each object's bytes on the DVC remote (None when unreadable), read through once each.

    This is ``verify --remote --deep``: an existence query cannot see an object changed in place.
    """
    found: dict[tuple[str, str], str | None] = {}
    unique = {(o.md5, o.hash_name): o for o in objs}
    with _dvc(root, remote, storage=True) as dvc_repo:
        for hash_name in sorted({h for _, h in unique}):
            odb = _remote_odb(dvc_repo, remote, hash_name)
            for md5, _ in sorted(k for k in unique if k[1] == hash_name):
                found[(md5, hash_name)] = _md5_remote(odb, md5)
    return found


def remote_stated_md5s(root: Path, objs: Iterable[Obj], remote: str | None) -> dict[tuple[str, str], str]:
    """The MD5 the remote's storage states for each object, where it states one, without reading it.

    S3 gives the MD5 of an object uploaded in one part as its ETag (an object uploaded in parts, or
    encrypted with a KMS or customer key, has an ETag that is no MD5: those are told apart by shape
    where they can be, and ``verify`` confirms a disagreement by reading the object); Google Cloud
    Storage gives ``md5Hash``. Other storage states nothing here: only ``--deep`` can tell.
    """
    stated: dict[tuple[str, str], str] = {}
    unique = sorted({(o.md5, o.hash_name) for o in objs})
    with _dvc(root, remote, storage=True) as dvc_repo:
        for hash_name in sorted({h for _, h in unique}):
            odb = _remote_odb(dvc_repo, remote, hash_name)
            protocol = odb.fs.protocol
            if not ({protocol} if isinstance(protocol, str) else set(protocol)) & STATES_MD5:
                continue
            md5s = [md5 for md5, h in unique if h == hash_name]
            infos = odb.fs.info([odb.oid_to_path(m) for m in md5s], return_exceptions=True)
            for md5, info in zip(md5s, infos, strict=True):
                if isinstance(info, FileNotFoundError):
                    continue  # the existence query reports it
                if isinstance(info, BaseException):
                    raise info
                value = _stated_md5(info)
                if value is not None:
                    stated[(md5, hash_name)] = value
    return stated


STATES_MD5 = {"s3", "gs", "gcs"}  # storage whose object metadata states an MD5


def _stated_md5(info: dict[str, Any]) -> str | None:
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"').lower()
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
        return etag
    md5_hash = info.get("md5Hash")
    if isinstance(md5_hash, str):
        try:
            return base64.b64decode(md5_hash, validate=True).hex()
        except ValueError:
            return None
    return None


def _md5_remote(odb: Any, md5: str) -> str | None:
    h = hashlib.md5()
    try:
        with odb.fs.open(odb.oid_to_path(md5), "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:  # the existence query reports it; a refusal is no absence: _dvc says what it is
        return None
    return h.hexdigest()


def remote_url(root: Path, remote: str | None) -> str:
    conf = _config(root)
    name = remote or conf["core"].get("remote")
    if not name:
        return "(no default remote)"
    return str(conf["remote"].get(name, {}).get("url", name))


def pull(root: Path, objs: Iterable[Obj], remote: str | None) -> None:
    """Download the objects into the cache of ``root`` (DVC shows progress on a terminal)."""
    infos = _hash_infos(objs)
    if not infos:
        return
    with _dvc(root, remote, storage=True) as dvc_repo:
        dvc_repo.cloud.pull(infos, remote=remote or None)


def push(root: Path, objs: Iterable[Obj], remote: str | None) -> None:
    infos = _hash_infos(objs)
    if not infos:
        return
    with _dvc(root, remote, storage=True) as dvc_repo:
        dvc_repo.cloud.push(infos, remote=remote or None)


def checkout(root: Path, targets: Iterable[str]) -> None:
    """``dvc checkout`` of the targets in ``root``, linking from the cache as cache.type says."""
    paths = [str(root / t) for t in targets]  # DVC resolves workspace targets against the process cwd
    if not paths:
        return
    with _dvc(root) as dvc_repo:
        dvc_repo.checkout(targets=paths, force=True)


def share_cache(store: Store, worktree: Path) -> None:
    """Point a new worktree at the main cache (and its link type), so nothing is copied twice."""
    lines = ["[cache]", f"    dir = {store.cache}"]
    if store.links_configured:
        lines.append(f"    type = {','.join(store.links)}")
    config = worktree / ".dvc" / "config.local"
    config.parent.mkdir(exist_ok=True)
    config.write_text("\n".join(lines) + "\n", "utf-8")


def ensure(
    store: Store, outs: Iterable[Output], remote: str | None, hashes: HashCache | None = None
) -> list[Obj]:
    """Make every object of ``outs`` present in the cache, pulling what it lacks; returns them all.

    What was downloaded is hashed before anything uses it (into ``hashes`` when given, so the caller
    does not hash it again): a remote object changed in place must not become a trusted cache object.
    """
    outs = list(outs)
    tops = [Obj(o.md5, o.hash_name, o.ref, "", o.path) for o in outs]
    fetched = [o for o in tops if not store.has(o)]
    _pull_present(store, fetched, remote)  # directory listings first
    objs: list[Obj] = []
    for out in outs:
        expanded, known = store.expand(out)
        if not known and store.has(expanded[0]):  # there, but not to be trusted
            _, why = store.listing(out)
            raise CheckFailed(
                f"{why}: the files of {out.path} cannot be known from it",
                # removed, the listing is fetched again from the DVC remote on the next run
                fix=f"rm {shlex.quote(str(store.path(expanded[0])))}",
            )
        if not known:
            raise CheckFailed(
                f"{out.ref}: {out.path} ({out.md5}) is neither in the DVC cache nor on remote "
                f"{remote_url(store.root, remote)}: push it from a clone that has it "
                f"(`dvc push {out.target}` there)"
            )
        objs += expanded
    lacking = [o for o in objs if not store.has(o)]
    _pull_present(store, lacking, remote)
    lost = [o for o in objs if not store.has(o)]
    if lost:
        first = lost[0]
        raise CheckFailed(
            f"{len(lost)} DVC object(s) are neither in the cache nor on remote "
            f"{remote_url(store.root, remote)}, e.g. {first.where} ({first.md5}): push them from a clone "
            "that has them (`git modelver push` there)"
        )
    _check_fetched(store, [o for o in (*fetched, *lacking) if not o.is_dir], remote, hashes)
    return objs


def _pull_present(store: Store, objs: list[Obj], remote: str | None) -> None:
    """Pull ``objs``, once the remote said it has every one: DVC would try a missing one and fail
    on its temporary file, naming no object."""
    if not objs:
        return
    missing = remote_missing(store.root, objs, remote)
    if missing:
        named = "; ".join(f"{o.where} ({o.md5})" for o in missing[:5])
        raise CheckFailed(
            f"{len(missing)} DVC object(s) are neither in the DVC cache nor on remote "
            f"{remote_url(store.root, remote)}: {named}: push them from a clone that has them "
            "(`git modelver push` there)"
        )
    pull(store.root, objs, remote)


def _check_fetched(store: Store, objs: list[Obj], remote: str | None, hashes: HashCache | None) -> None:
    """Downloaded objects hash to their names, or they leave the cache again and the remote is named."""
    bad: list[str] = []
    for obj in {(o.md5, o.hash_name): o for o in objs}.values():
        path = store.path(obj)
        actual = hashes.md5(path) if hashes is not None else md5_file(path)
        if actual != md5_of(obj.md5):
            path.unlink(missing_ok=True)
            bad.append(f"{obj.where}: its object hashes to {actual[:12]}…, not {obj.md5[:12]}…")
    if hashes is not None:
        hashes.save()
    if bad:
        raise CheckFailed(
            f"changed on DVC remote {remote_url(store.root, remote)}: {'; '.join(bad[:5])}; nothing was "
            "kept: delete those remote objects, then `git modelver push` from a clone whose cache passes "
            "`git modelver verify --deep`"
        )


def ensure_default_remote(root: Path, storage: Path) -> Path | None:
    """Give a repository without any DVC remote a local default one, so push and reproduce work offline.

    It goes to ``.dvc/config.local``: a folder on this machine means nothing in a teammate's clone.
    """
    conf = _config(root)
    if conf["remote"]:
        return None
    storage.mkdir(parents=True, exist_ok=True)
    with conf.edit("local") as local:
        local["remote"][LOCAL_REMOTE] = {"url": str(storage)}
        local["core"]["remote"] = LOCAL_REMOTE
    return storage
