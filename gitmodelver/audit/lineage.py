"""Lineage (SPEC §5 ``lineage``): the dependency DAG behind a version, read from Git objects at its tag.

Edges follow the data: dataset → stage → weights → version, eval suite → (stage →) results → version.
DVC outputs lead to the ``dvc.lock`` stage that produced them, whose deps and params lead further up,
recursively; ``trained_on`` adds the edges a person declared. Every node carries the hash its producer
recorded, and a node whose hash no longer matches that record (a pipeline not re-run, a pin gone stale,
a param edited after the run) is marked with the reason.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from typing import Any

from gitmodelver.audit.lineage_graph import Edge, Graph, Node, file_id
from gitmodelver.core import digest, dvcfiles, pins, pipeline, validate
from gitmodelver.core.dvcfiles import DvcOut
from gitmodelver.core.filerefs import NON_COMPONENTS, FileRef, Tree, iter_file_refs, join, ref_kind
from gitmodelver.core.manifest import Manifest
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.release import plan

# The role of a file component, by the manifest section that names it.
SECTION_KINDS = {"weights": "weights", "prompts": "prompt", "retrieval": "index"}
CODE_SUFFIXES = (".py", ".sh", ".ipynb", ".r", ".jl", ".js", ".ts", ".go", ".rs", ".c", ".cpp", ".java")


def _short(value: str | None) -> str:
    return (value or "-").split(":", 1)[-1][:12] + "…"


class _Builder:
    def __init__(self, tree: Tree, m: Manifest, graph: Graph) -> None:
        self.tree = tree
        self.m = m
        self.graph = graph
        self.resolved: dict[str, DvcOut | None] = {}
        self.stages: dict[str, Mapping[str, Any]] = {}  # lockfile -> its stages
        self.expanded: set[str] = set()
        self.ids: dict[str, str] = {}  # a file reference's dotted key -> its node

    # ------------------------------------------------------------- reading the tree, memoised

    def resolve(self, path: str) -> DvcOut | None:
        if path not in self.resolved:
            self.resolved[path] = dvcfiles.resolve(self.tree, path)
        return self.resolved[path]

    def lock_stages(self, lockfile: str) -> Mapping[str, Any]:
        if lockfile not in self.stages:
            self.stages[lockfile] = dvcfiles.lock_stages(self.tree, lockfile)
        return self.stages[lockfile]

    def producer_in_locks(self, path: str) -> DvcOut | None:
        """The dvc.lock output for ``path`` (a Git-tracked ``cache: false`` output, e.g. eval results)."""
        found = self.resolve(path)
        return found if found is not None and found.stage is not None else None

    # ------------------------------------------------------------- components

    def components(self) -> None:
        data = self.m.data
        refs = list(iter_file_refs(data))
        for section, value in data.items():
            if section in NON_COMPONENTS or not isinstance(value, Mapping):
                continue
            if section == "base_model":
                self.base_model(value)
                continue
            config = _config_values(value) if ref_kind(value) is None else {}  # a reference is its own node
            if config and section != "evaluation":
                self.config(section, config)
        for ref in refs:
            self.file_component(ref)
        self.evaluation(refs)
        self.trained_on(data, refs)

    def base_model(self, table: Mapping[str, Any]) -> None:
        model, revision = str(table.get("id", "?")), table.get("revision")
        node = self.graph.node(
            f"model:{model}@{revision}",
            "base-model",
            model,
            hash=f"rev:{revision}" if revision else None,
            attrs={
                "component": "base_model",
                **{k: v for k, v in table.items() if not isinstance(v, Mapping)},
            },
        )
        self.graph.edge(node.id, self.graph.root, "component")

    def config(self, section: str, values: Mapping[str, Any]) -> None:
        node = self.graph.node(
            f"config:{section}",
            "config",
            section,
            hash=digest.sha256_digest(values),
            attrs={"component": section, "values": _plain(values)},
        )
        self.graph.edge(node.id, self.graph.root, "component")

    def file_component(self, ref: FileRef) -> None:
        path = join(self.m.base, ref.target)
        out = self.resolve(path) if ref.kind == "dvc" else None
        where = out.path if out is not None else path  # a pointer names its output: one node for both
        kind = _component_kind(ref)
        node = self.graph.node(file_id(where), kind, ref.dotted, path=where)
        node.kind, node.label = kind, ref.dotted  # a component's role wins over an upstream sighting
        node.attrs["component"] = ref.dotted
        self.ids[ref.dotted] = node.id
        if ref.kind == "dvc":
            self.dvc_component(node, ref, path, out)
        elif ref.kind == "params":
            self.params_component(node, ref, path)
        else:
            self.git_component(node, ref, path)
        if kind != "eval-suite":  # the suite reaches the version through the results it produced
            self.graph.edge(node.id, self.graph.root, "component")

    def dvc_component(self, node: Node, ref: FileRef, path: str, out: DvcOut | None) -> None:
        if out is None:
            node.hash = f"md5:{ref.pin}" if ref.pin else None
            node.problems.append(f"{path}: no .dvc pointer or dvc.lock output records it at this commit")
            return
        node.hash = f"md5:{out.md5}"
        node.attrs["recorded_in"] = out.source
        _directory(node, out.md5, out.nfiles)
        if ref.pin and ref.pin != out.md5:
            node.problems.append(
                f"the manifest pins md5 {_short(ref.pin)}, {out.source} records {_short(out.md5)}"
            )
        if out.stage is not None:
            self.produced_by(node, out)

    def params_component(self, node: Node, ref: FileRef, path: str) -> None:
        """Keys of a params file: named by their values, which the file must still hold."""
        node.hash = digest.sha256_digest(ref.pin) if isinstance(ref.pin, Mapping) else None
        node.attrs["values"] = _plain(ref.pin) if isinstance(ref.pin, Mapping) else None
        values, why = pins.params_pin(self.tree, path, ref.keys, validate.MAX_DEPTH - len(ref.key) - 1)
        if values is None:
            node.problems.append(f"{path}: {why or 'not in Git at this commit'}")
        elif values != ref.pin:
            node.problems.append(f"{path} at this commit does not hold the values the manifest pins")

    def git_component(self, node: Node, ref: FileRef, path: str) -> None:
        data = self.tree.read(path)
        if data is None:
            node.hash = f"sha256:{ref.pin}" if ref.pin else None
            node.problems.append(f"{path} is not in Git at this commit")
            return
        actual = hashlib.sha256(data).hexdigest()
        node.hash = f"sha256:{actual}"
        if ref.pin and ref.pin != actual:
            node.problems.append(
                f"the manifest pins sha256 {_short(ref.pin)}, the file hashes to {_short(actual)}"
            )
        out = self.producer_in_locks(path)
        if out is not None:
            md5 = hashlib.md5(data).hexdigest()
            node.attrs["md5"] = md5
            if out.md5 != md5:
                node.problems.append(
                    f"{out.source} stage {out.stage} recorded md5 {_short(out.md5)}, the file at this "
                    f"commit is {_short(md5)}: edited after `dvc repro`"
                )
            self.produced_by(node, out)

    def evaluation(self, refs: list[FileRef]) -> None:
        suite, results = self.ids.get("evaluation.suite"), self.ids.get("evaluation.results")
        evaluation = self.m.data.get("evaluation")
        gates = evaluation.get("gates") if isinstance(evaluation, Mapping) else None
        if results is not None and isinstance(gates, Mapping):
            self.graph.nodes[results].attrs["gates"] = {str(k): str(v) for k, v in gates.items()}
        if suite is None:
            return
        if results is None:
            self.graph.edge(suite, self.graph.root, "component")
        elif not self._reaches(suite, results):
            self.graph.edge(suite, results, "evaluates")

    def trained_on(self, data: Mapping[str, Any], refs: list[FileRef]) -> None:
        """Declared edges: ``trained_on = [...]`` beside a file reference (SPEC §2)."""
        for ref in refs:
            table: Any = data
            for name in ref.key:
                table = table[name]
            sources = table.get("trained_on") if isinstance(table, Mapping) else None
            if not isinstance(sources, list):
                continue
            for source in sources:
                if isinstance(source, str):
                    node = self.dataset(join(self.m.base, source))
                    self.graph.edge(node.id, self.ids[ref.dotted], "trained_on")

    def dataset(self, path: str) -> Node:
        out = self.resolve(path)
        if out is not None:
            node = self.graph.node(
                file_id(out.path), "dataset", out.path, path=out.path, hash=f"md5:{out.md5}"
            )
            if node.kind in ("artifact", "data"):
                node.kind = "dataset"
            node.attrs.setdefault("recorded_in", out.source)
            _directory(node, out.md5, out.nfiles)
            if out.stage is not None:
                self.produced_by(node, out)
            return node
        node = self.graph.node(file_id(path), "dataset", path, path=path)
        data = self.tree.read(path)
        if data is not None:
            node.hash = f"md5:{hashlib.md5(data).hexdigest()}"
        else:
            node.problems.append(f"{path}: neither in Git nor recorded by DVC at this commit")
        return node

    # ------------------------------------------------------------- pipelines

    def produced_by(self, node: Node, out: DvcOut) -> None:
        stage = self.stage(out.source, str(out.stage))
        self.graph.edge(stage.id, node.id, "produces")

    def stage(self, lockfile: str, name: str) -> Node:
        id = f"stage:{lockfile}:{name}"
        node = self.graph.node(id, "stage", name, path=lockfile)
        if id in self.expanded:
            return node
        self.expanded.add(id)
        body = self.lock_stages(lockfile).get(name)
        body = body if isinstance(body, Mapping) else {}
        folder = posixpath.dirname(lockfile)
        node.attrs.update(cmd=body.get("cmd"), lockfile=lockfile)
        for entry in body.get("outs") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                path = join(folder, entry["path"])
                out = self.graph.node(file_id(path), "artifact", path, path=path)
                if out.hash is None and isinstance(entry.get("md5"), str):
                    out.hash = f"md5:{entry['md5']}"
                    _directory(out, entry["md5"], entry.get("nfiles"))
                self.graph.edge(id, out.id, "produces")
        for entry in body.get("deps") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                dep = self.dependency(join(folder, entry["path"]), entry, name)
                self.graph.edge(dep.id, id, "input")
        params = body.get("params")
        if isinstance(params, Mapping):
            for file, values in params.items():
                if isinstance(values, Mapping):
                    self.params(node, folder, str(file), values)
        return node

    def dependency(self, path: str, entry: Mapping[str, Any], stage: str) -> Node:
        recorded = entry.get("md5") if isinstance(entry.get("md5"), str) else None
        out = self.resolve(path)
        if out is not None:
            kind = "dataset" if out.stage is None else "artifact"
            node = self.graph.node(file_id(out.path), kind, out.path, path=out.path, hash=f"md5:{out.md5}")
            node.attrs.setdefault("recorded_in", out.source)
            _directory(node, out.md5, out.nfiles)
            if recorded and recorded != out.md5:
                who = f"stage {out.stage}" if out.stage else out.source
                node.problems.append(
                    f"stage {stage} ran on md5 {_short(recorded)}, {who} now records {_short(out.md5)}: "
                    "`dvc repro` was not run after it changed"
                )
            if out.stage is not None:
                self.produced_by(node, out)
            return node
        kind = "code" if path.lower().endswith(CODE_SUFFIXES) else "data"
        node = self.graph.node(file_id(path), kind, path, path=path)
        data = self.tree.read(path)
        if data is None:
            node.hash = f"md5:{recorded}" if recorded else None
            node.attrs["tracked"] = "git tree" if self.tree.exists(path) else "neither Git nor DVC"
            return node
        node.attrs["tracked"] = "git"
        actual = hashlib.md5(data).hexdigest()
        node.attrs["md5"] = actual
        if node.hash is None:  # a component keeps the hash its pin uses
            node.hash = f"md5:{actual}"
        # DVC 2 hashed text with CRLF folded to LF; DVC 3 (``hash: md5``) hashes the bytes.
        legacy = hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest() if entry.get("hash") != "md5" else None
        if recorded and recorded not in (actual, legacy):
            node.problems.append(
                f"stage {stage} ran on md5 {_short(recorded)}, the file at this commit is {_short(actual)}: "
                "edited after `dvc repro`"
            )
        return node

    def params(self, stage: Node, folder: str, file: str, values: Mapping[str, Any]) -> None:
        path = join(folder, file)
        node = self.graph.node(
            f"params:{stage.id[len('stage:') :]}:{path}",
            "params",
            f"{path} ({stage.label})",
            path=path,
            hash=digest.sha256_digest(values),
            attrs={"values": _plain(values)},
        )
        current = pipeline.read_params(self.tree, path)
        if current is not None:
            for key, value in values.items():
                now = pipeline.lookup(current, str(key))
                now = None if now is pipeline.MISSING else now
                if now != value:
                    node.problems.append(f"{key} = {value!r} when {stage.label} ran, {path} now says {now!r}")
        self.graph.edge(node.id, stage.id, "params")

    def _reaches(self, source: str, target: str) -> bool:
        forward: dict[str, list[str]] = {}
        for e in self.graph.edges:
            forward.setdefault(e.source, []).append(e.target)
        seen, todo = {source}, [source]
        while todo:
            for nxt in forward.get(todo.pop(), []):
                if nxt == target:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False


def _directory(node: Node, md5: str, nfiles: Any) -> None:
    """Mark a DVC directory output (md5 ``….dir``): one node for the folder, with its number of files.

    DVC records ``nfiles`` beside the md5 (in the pointer and in dvc.lock); the lineage is read from Git
    alone, so the files themselves are not listed here (``bom`` lists them from the DVC cache).
    """
    if not md5.endswith(".dir") or node.hash != f"md5:{md5}":
        return
    node.attrs["directory"] = True
    if isinstance(nfiles, int) and not isinstance(nfiles, bool):
        node.attrs["files"] = nfiles


def _plain(values: Mapping[str, Any]) -> Any:
    """TOML values as JSON values (dates become strings), so the graph serialises as it is."""
    import json

    return json.loads(digest.canonical_json(values))


def _component_kind(ref: FileRef) -> str:
    if ref.key[0] == "evaluation" and len(ref.key) == 2 and ref.key[1] in ("suite", "results", "metrics"):
        return f"eval-{'results' if ref.key[1] == 'metrics' else ref.key[1]}"
    if ref.kind == "params":
        return "params"
    return SECTION_KINDS.get(ref.key[0], "file")


def _config_values(table: Mapping[str, Any]) -> dict[str, Any]:
    """A component's plain settings: everything but file references (and their lineage lists)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            if ref_kind(value) is None:
                nested = _config_values(value)
                if nested:
                    out[str(key)] = nested
        else:
            out[str(key)] = value
    return out


def build(
    tree: Tree,
    m: Manifest,
    *,
    tag: str,
    version_digest: str | None,
    state: str | None = None,
    commit: str | None = None,
) -> Graph:
    """The lineage of the version ``tag`` whose manifest ``m`` sits in ``tree`` (a commit: no checkout)."""
    root = f"version:{tag}"
    graph = Graph(root)
    graph.node(
        root,
        "version",
        tag,
        hash=version_digest,
        attrs={"system": m.name, "version": m.version, "commit": commit, "state": state},
    )
    _Builder(tree, m, graph).components()
    return graph


def of_release(repo: Repo, system: System, release: Release) -> Graph:
    """The lineage of a released version, read from its commit (no checkout)."""
    from gitmodelver.core import manifest

    commit = repo.commit(release.commit)
    tree = repo.commit_tree(commit, release.tag)
    m = manifest.load_tree(tree, system.file, trusted=True)
    if m is None:
        raise no_manifest(repo, system, release, tree)
    return build(
        tree, m, tag=release.tag, version_digest=release.digest, state=release.state, commit=release.commit
    )


def no_manifest(repo: Repo, system: System, release: Release, tree: CommitTree) -> UsageError:
    """A version named by its number alone is read where the manifest is today, which it may have left."""
    hint = f"name the version by its full tag, {release.tag}, to read it there"
    return plan.no_manifest(repo, release, system, tree, hint)


__all__ = ["Edge", "Graph", "Node", "build", "file_id", "no_manifest", "of_release"]
