"""Building the site into a folder, and rebuilding only what changed since the last build.

The folder keeps a build manifest, ``.modelver-site.json``: for every file written, a digest of what it
was rendered from (the version's tag object and the one it follows, its verification now, its deployment
history, the ledger's commit, the tool's own code). A file whose inputs digest the same is left as it is.
The home page, the versions table, the metrics page and the compare page list every version and are
drawn every time; they are cheap. The manifest also keeps what the metrics page needs of each version (by
tag object) and what the tables need of the ledger (by the ledger branch's commit), so a rebuild after a
release reads neither every version nor the whole ledger again.

Every file is replaced in one step and the manifest is written last: a build that stops half-way leaves a
site whose pages are each whole, and the next build redoes what the manifest does not vouch for. Files
the manifest does not list are never touched, and a folder that is not a site is refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodelver import __version__, advice, output
from gitmodelver.errors import BrokenLedger, ModelverError, UsageError
from gitmodelver.gitstore.fsutil import atomic_write
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import Release
from gitmodelver.site import catalog, change, environment, facts, home, metrics, version, versions
from gitmodelver.site.catalog import Catalog, SystemVersions, Version
from gitmodelver.site.facts import Facts
from gitmodelver.site.page import data_path, env_path, files_path, version_path

MANIFEST = ".modelver-site.json"
FORMAT = "gitmodelver-site"
STATIC = Path(__file__).resolve().parent / "static"
BOM_CHOICES = ("serving", "all", "none")
KEEP_FACTS = 4  # versions whose facts stay in memory: a version page needs its own and its predecessor's
# The drawings of the audit report that pages embed: a change to them redraws the pages too.
DRAWN_BY = (
    "report_html.py",
    "report_md.py",
    "svg_graph.py",
    "lineage.py",
    "lineage_graph.py",
    "lineage_render.py",
)


@functools.lru_cache(maxsize=1)
def scope() -> str:
    """The tool's version and a digest of the code that draws pages: a change of either redraws them."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    audit = here.parent / "audit"
    for path in sorted([*here.glob("*.py"), *STATIC.iterdir(), *(audit / name for name in DRAWN_BY)]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__} {digest.hexdigest()[:16]}"


def key_of(*parts: Any) -> str:
    text = json.dumps([scope(), *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Result:
    folder: Path
    rendered: list[str] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    versions: int = 0
    environments: list[str] = field(default_factory=list)
    problems: list[BrokenLedger] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "output": str(self.folder),
            "index": str(self.folder / "index.html"),
            "rendered": len(self.rendered),
            "kept": self.kept,
            "removed": len(self.removed),
            "versions": self.versions,
            "environments": self.environments,
            "problems": [p.message for p in self.problems],
            "seconds": round(self.seconds, 3),
        }


class Folder:
    """The output folder, what its build manifest says of the last build, and what this one wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = path / MANIFEST
        _check_folder(path, self.manifest)
        old = _read_manifest(self.manifest)
        same = old.get("scope") == scope()
        self.old_files: set[str] = set(old.get("pages", {}))
        self.old_pages: dict[str, str] = old["pages"] if same else {}
        self.summaries: dict[str, Any] = old["facts"] if same else {}
        self.ledger: dict[str, Any] | None = old.get("ledger") if same else None
        self._listed: dict[str, set[str]] = {}
        self.pages: dict[str, str] = {}
        self.result = Result(path)
        self.under: dict[str, list[str]] = {}  # a folder of the last build -> the files in it
        for rel in sorted(self.old_pages):
            self.under.setdefault(rel.rsplit("/", 1)[0] + "/", []).append(rel)

    def write(self, rel: str, data: str | bytes, key: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data.encode("utf-8") if isinstance(data, str) else data)
        self.pages[rel] = key
        self.result.rendered.append(rel)

    def keep(self, rels: Iterable[str], key: str | None = None) -> bool:
        """Whether all of ``rels`` were rendered from these inputs (``None``: from whatever they were, when
        the caller vouches for them) and are still there: then they are kept as they are."""
        rels = list(rels)
        # downloads are not looked for one by one: a version's page and data file stand for its folder
        if not all(r in self.old_pages and (r.startswith("files/") or self.exists(r)) for r in rels):
            return False
        if key is not None and not all(self.old_pages[r] == key for r in rels):
            return False
        for rel in rels:
            self.pages[rel] = self.old_pages[rel]
        self.result.kept += len(rels)
        return True

    def exists(self, rel: str) -> bool:
        """Whether a file of the last build is still there (one listing per folder, not a stat per file)."""
        folder, _, name = rel.rpartition("/")
        if folder not in self._listed:
            try:
                self._listed[folder] = set(os.listdir(self.path / folder))
            except OSError:
                self._listed[folder] = set()
        return name in self._listed[folder]

    def put(self, rel: str, key: str, render: Callable[[], str | bytes]) -> None:
        if not self.keep([rel], key):
            self.write(rel, render(), key)

    def finish(self, repo: Repo) -> None:
        top = self.path.resolve()
        for rel in sorted(self.old_files - set(self.pages)):
            target = (self.path / rel).resolve()
            if top in target.parents and target.is_file():
                target.unlink()
                self.result.removed.append(rel)
                _prune_empty(target.parent, top)
        doc = {
            "format": FORMAT,
            "scope": scope(),
            "tool": {"name": "gitmodelver", "version": __version__},
            "repository": str(repo.root),
            "pages": dict(sorted(self.pages.items())),
            "facts": self.summaries,
            "ledger": self.ledger,
        }
        atomic_write(self.manifest, (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode())


def _check_folder(path: Path, manifest: Path) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file, not a folder for the site", fix=_elsewhere(path))
    if path.is_dir() and not manifest.is_file() and any(path.iterdir()):
        raise UsageError(
            f"{path} holds files but no {MANIFEST}: it is not a site this command built, and nothing in it "
            "is overwritten",
            fix=_elsewhere(path),
        )


def _elsewhere(path: Path) -> str:
    """A build into a folder that does not exist yet, beside the one refused."""
    n = 2
    while path.with_name(f"{path.name}-{n}").exists():
        n += 1
    return advice.modelver("site", "-o", str(path.with_name(f"{path.name}-{n}")))


def _read_manifest(path: Path) -> dict[str, Any]:
    """The last build's manifest; anything unreadable is as if there were none (everything is redrawn)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}
    pages = doc.get("pages")
    if not isinstance(pages, dict) or not all(isinstance(v, str) for v in pages.values()):
        return {}
    doc["pages"] = {k: v for k, v in pages.items() if _safe(k)}
    if not isinstance(doc.get("facts"), dict):
        doc["facts"] = {}
    if not _ledger_shaped(doc.get("ledger")):
        doc["ledger"] = None
    return doc


def _ledger_shaped(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("tip"), str)
        and isinstance(value.get("tags"), dict)
        and isinstance(value.get("envs"), dict)
        and isinstance(value.get("recent"), list)
    )


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts and "\\" not in rel


def _prune_empty(folder: Path, top: Path) -> None:
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


# --------------------------------------------------------------------------- the build


class Reader:
    """Facts of versions read from Git, a few kept (a page needs its version's and its predecessor's)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.kept: dict[str, Facts] = {}

    def __call__(self, s: SystemVersions, release: Release) -> Facts:
        found = self.kept.get(release.target)
        if found is None:
            found = facts.read(self.repo, s.system, release)
            self.kept[release.target] = found
            while len(self.kept) > KEEP_FACTS:
                self.kept.pop(next(iter(self.kept)))
        return found


def build(
    repo: Repo, folder: Path, *, boms: str = "serving", title: str | None = None, only: str | None = None
) -> Result:
    """Build the site of ``repo`` (of the system ``only``, when given) into ``folder``."""
    started = time.perf_counter()
    out = Folder(folder)
    cat = catalog.gather(repo, out.ledger, only)
    out.result.versions = len(cat.versions())
    out.result.environments = list(cat.environments)
    out.result.problems = cat.problems
    read = Reader(repo)
    _assets(out)
    with_bom = _with_bom(cat, boms)
    known = cat.by_tag()
    todo = [(s, v) for s in cat.systems for v in reversed(s.versions)]  # oldest first: predecessors first
    for s, v in output.progress(todo, "site", unit="version"):
        _version(out, read, s, v, v.tag in with_bom, known)
    out.write("index.html", home.render(cat, title or repo.root.name), "")
    out.write(versions.PATH, versions.render(cat), "")
    out.write(metrics.PATH, metrics.render(cat, _summaries(out, read, cat)), "")
    out.write("compare.html", change.compare_page(cat), "")
    for env in cat.environments:
        _environment(out, cat, env, known)
    out.ledger = cat.ledger.kept()
    out.finish(repo)
    out.result.seconds = time.perf_counter() - started
    return out.result


def _assets(out: Folder) -> None:
    for path in sorted(STATIC.iterdir()):
        data = path.read_bytes()
        out.put(f"assets/{path.name}", hashlib.sha256(data).hexdigest()[:32], lambda data=data: data)  # type: ignore[misc]


def _with_bom(cat: Catalog, boms: str) -> set[str]:
    if boms == "all":
        return {v.tag for v in cat.versions()}
    if boms == "none":
        return set()
    return {v.tag for v in cat.versions() if v.serving}


def _version_key(s: SystemVersions, v: Version, bom: bool) -> str:
    r = v.release
    previous = (v.previous.tag, v.previous.target) if v.previous else None
    return key_of(
        r.tag,
        r.target,
        r.commit,
        s.system.file,
        previous,
        v.checks,
        [v.signature.signed, v.signature.verified, v.signature.signer, v.signature.detail],
        v.ledger.history_key(v.tag),
        bom,
    )


def _version(
    out: Folder, read: Reader, s: SystemVersions, v: Version, bom: bool, known: Mapping[str, Version]
) -> None:
    key = _version_key(s, v, bom)
    page = version_path(v.tag)
    files = [page, data_path(v.tag), *out.under.get(files_path(v.tag, ""), [])]
    if v.release.target in out.summaries and out.keep(files, key):
        return
    mine = read(s, v.release)
    before = read(s, v.previous) if v.previous is not None else None
    out.summaries[v.release.target] = mine.summary()
    document = _bom(read.repo, s, v) if bom else None
    out.write(page, version.render(v, mine, before, bom=document is not None, known=known), key)
    out.write(data_path(v.tag), change.data_file(mine, v.tag, page), key)
    downloads = version.downloads(v, mine, document is not None)
    if "manifest" in downloads and mine.raw is not None:
        out.write(downloads["manifest"], mine.raw, key)
    if "results" in downloads and mine.evaluation is not None and mine.evaluation.raw is not None:
        out.write(downloads["results"], mine.evaluation.raw, key)
    if document is not None:
        out.write(downloads["bom"], document, key)


def _bom(repo: Repo, s: SystemVersions, v: Version) -> str | None:
    """The version's CycloneDX BOM, or None when it cannot be made (the page then names the command)."""
    from gitmodelver.audit import bom  # the CycloneDX library is slow to load: only when a BOM is made

    try:
        doc = bom.build(repo, s.system, v.release)
    except ModelverError:
        return None
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _summaries(out: Folder, read: Reader, cat: Catalog) -> dict[str, Any]:
    """Tag -> what the metrics page needs, from this build or the manifest's memory of earlier ones."""
    found = {}
    kept = {}
    for s in cat.systems:
        for v in s.versions:
            summary = out.summaries.get(v.release.target)
            if summary is None:
                summary = read(s, v.release).summary()
            kept[v.release.target] = summary
            found[v.tag] = summary
    out.summaries = kept  # versions whose tags are gone are forgotten
    return found


def _environment(out: Folder, cat: Catalog, name: str, known: Mapping[str, Version]) -> None:
    """The environment's page and its windows of events, drawn again only when the ledger moved (or a
    version shown there verifies otherwise now)."""
    status = sorted((v.tag, v.ok) for v in known.values() if name in v.places)
    key = key_of(name, cat.ledger.tip, status)
    main = env_path(name)
    windows = out.under.get(f"env/{name}/", [])
    if cat.ledger.remembered is not None and out.old_pages.get(main) == key and out.keep([main, *windows]):
        return
    env = next(e for e in cat.ledger.environments if e.name == name)
    out.write(main, environment.render(env, known, cat.generated_at), key)
    if env.problem is not None:
        return
    found = environment.windows(env, cat.generated_at)
    for w in found[:-1]:
        tags = {t for e in w.events for t in (e.get("traffic") or {})}
        shown = sorted((t, t in known and known[t].ok) for t in tags)
        rel = environment.window_path(name, w.index)
        drawn = key_of(name, w.events, w.until, shown, len(found))
        out.put(rel, drawn, lambda w=w: environment.render_window(env, w, known))  # type: ignore[misc]
