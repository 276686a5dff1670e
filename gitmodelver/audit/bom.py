"""The ML-BOM (SPEC §8 ``bom``): a version as a CycloneDX 1.6 document, built with cyclonedx-python-lib.

The system is the ``machine-learning-model`` component of the metadata; the base model, weights, prompts,
retrieval and generation settings, the evaluation suite and results, and the datasets the lineage finds are
its components, each with the hash the version pins. cyclonedx-python-lib has no model card or component
data types yet, so those two are added to its JSON output, and the whole document is then validated against
the CycloneDX 1.6 schema the library ships: an invalid BOM is never written.
The BOM is a function of the version: its timestamp is the tag's, its serial number derives from the digest.
One thing comes from outside Git: a DVC directory output (md5 ``….dir``) lists its files as nested
components with their MD5s when DVC's listing of the folder is in the local DVC cache (it names no file
otherwise, and says so).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from gitmodelver import __version__
from gitmodelver.audit import lineage
from gitmodelver.audit.lineage_graph import Graph, Node, upstream
from gitmodelver.core import digest, evaluation, manifest
from gitmodelver.core.filerefs import NON_COMPONENTS, FileRef, join, ref_kind
from gitmodelver.dvc import dvcops
from gitmodelver.errors import ModelverError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import Release

# How a file reference shows in the BOM, by its manifest section: (component type, componentData type).
FILE_ROLES = {
    "weights": ("file", None),
    "prompts": ("data", "configuration"),
    "retrieval": ("file", None),
    "evaluation.suite": ("data", "dataset"),
    "evaluation.results": ("data", "other"),
}
DATA_KINDS = ("dataset", "artifact", "data")  # lineage nodes that are data, not code or settings


def build(repo: Repo, sys_: System, release: Release) -> dict[str, Any]:
    commit = repo.commit(release.commit)
    tree = repo.commit_tree(commit, release.tag)
    m = manifest.load_tree(tree, sys_.file, trusted=True)
    if m is None:
        raise lineage.no_manifest(repo, sys_, release, tree)
    graph = lineage.build(
        tree, m, tag=release.tag, version_digest=release.digest, state=release.state, commit=release.commit
    )
    results = evaluation.load_results(tree, m.data, m.base)
    gates = evaluation.check_gates(evaluation.gates_of(m.data), results.metrics if results else {})
    doc = _library_bom(release, m, graph, Listings(repo))
    by_ref = {c["bom-ref"]: c for c in doc.get("components", [])}
    for ref, data in _component_data(m, graph).items():
        by_ref[ref]["data"] = [data]
    doc["metadata"]["component"]["modelCard"] = _model_card(graph, results, gates)
    _attestations(repo, release, doc["metadata"]["component"])
    _validate(doc)
    return doc


class Listings:
    """The files of DVC directory outputs, read from the ``.dir`` objects in the local DVC cache.

    The cache is found as DVC finds it (``cache.dir``, see ``dvcops.Store``), and only once a ``….dir``
    md5 asks for it: a BOM without directories never loads DVC's configuration. A bare repository, one
    without DVC, or a listing that is absent or does not hash to its md5 lists nothing.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._store: dvcops.Store | None = None
        self._opened = False

    def files(self, md5: str) -> tuple[list[tuple[str, str]], str] | None:
        """(relpath, md5) of every file the directory ``md5`` holds, and DVC's hash name; None if unknown."""
        if not md5.endswith(".dir"):
            return None
        if not self._opened:
            self._opened = True
            try:
                self._store = None if self.repo.bare else dvcops.Store.open(self.repo.root)
            except ModelverError:
                self._store = None
        return self._store.cached_listing(md5) if self._store is not None else None


def _library_bom(release: Release, m: manifest.Manifest, graph: Graph, listings: Listings) -> dict[str, Any]:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    types = {
        "file": ComponentType.FILE,
        "data": ComponentType.DATA,
        "model": ComponentType.MACHINE_LEARNING_MODEL,
    }
    algorithms = {"md5": HashAlgorithm.MD5, "sha256": HashAlgorithm.SHA_256}

    def component(spec: Mapping[str, Any]) -> Component:
        hashes = [
            HashType(alg=algorithms[a], content=v) for a, v in spec.get("hashes", []) if a in algorithms
        ]
        props = [Property(name=f"modelver:{k}", value=str(v)) for k, v in spec.get("properties", {}).items()]
        return Component(
            name=spec["name"],
            version=spec.get("version"),
            type=types[spec["type"]],
            bom_ref=spec["ref"],
            description=spec.get("description"),
            hashes=hashes,
            properties=props,
            purl=spec.get("purl"),
            components=[component(inner) for inner in spec.get("files", [])],
        )

    root = component(_system_spec(release, m))
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"gitmodelver:{release.tag}:{release.digest}"))
    bom.metadata.component = root
    if release.time is not None:
        bom.metadata.timestamp = dt.datetime.fromtimestamp(release.time, dt.UTC)
    bom.metadata.tools.components.add(
        Component(name="gitmodelver", version=__version__, type=ComponentType.APPLICATION)
    )
    specs = [_with_files(spec, listings) for spec in _component_specs(m, graph)]
    made = {spec["ref"]: component(spec) for spec in specs}
    for item in made.values():
        bom.components.add(item)
    bom.register_dependency(root, list(made.values()))
    for spec in specs:
        feeds = [made[r] for r in spec.get("depends_on", []) if r in made]
        if feeds:
            bom.register_dependency(made[spec["ref"]], feeds)
    doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    return doc


def _system_spec(release: Release, m: manifest.Manifest) -> dict[str, Any]:
    props = {
        "tag": release.tag,
        "commit": release.commit,
        "tag-object": release.target,
        "version-digest": release.digest,
        "state-digest": release.state,
        "bump": release.bump,
    }
    return {
        "ref": f"system:{release.tag}",
        "name": m.name,
        "version": str(release.version),
        "type": "model",
        "description": f"{m.name} {release.version}: the whole AI system as versioned by gitmodelver",
        # the version digest is a SHA-256 over the manifest with its pins: it names this release exactly
        "hashes": [("sha256", digest.short(release.digest, 64))] if release.digest else [],
        "properties": {k: v for k, v in props.items() if v},
    }


def _component_specs(m: manifest.Manifest, graph: Graph) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    base = m.data.get("base_model")
    if isinstance(base, Mapping) and isinstance(base.get("id"), str):
        specs.append(_base_model(base))
    for ref in m.refs:
        specs.append(_file_spec(m, ref, graph))
    for section, values in _settings(m.data).items():
        specs.append(
            {
                "ref": f"config:{section}",
                "name": section,
                "type": "data",
                "description": f"[{section}] settings of the manifest",
                "hashes": [("sha256", digest.sha256_digest(values).split(":", 1)[1])],
            }
        )
    specs += [_dataset_spec(node) for node in _datasets(graph)]
    return specs


def _base_model(base: Mapping[str, Any]) -> dict[str, Any]:
    from packageurl import PackageURL

    model, revision = str(base["id"]), base.get("revision")
    namespace, _, name = model.rpartition("/")
    return {
        "ref": "base-model",
        "name": model,
        "version": str(revision) if revision else None,
        "type": "model",
        "description": "the foundation model, at an immutable revision",
        "purl": PackageURL(
            "huggingface", namespace or None, name, str(revision).lower() if revision else None
        ),
        "properties": {"component": "base_model"},
    }


def _file_spec(m: manifest.Manifest, ref: FileRef, graph: Graph) -> dict[str, Any]:
    path = join(m.base, ref.target)
    role = FILE_ROLES.get(ref.dotted) or FILE_ROLES.get(ref.key[0]) or ("file", None)
    node = graph.nodes.get(f"file:{path}") or _node_for(graph, ref.dotted)
    props = {"component": ref.dotted, "path": path, "tracked-by": "dvc" if ref.kind == "dvc" else "git"}
    if ref.kind == "params":  # keys of a params file: named by their values, not by the file's hash
        hashes: list[tuple[str, str]] = []
        extra = {"params-values": json.dumps(ref.pin, sort_keys=True, default=str)} if ref.pin else {}
    else:
        hashes, extra = _hashes(ref.pin_field, ref.pin)
    spec: dict[str, Any] = {
        "ref": ref.dotted,
        "name": node.path if node is not None and node.path else path,
        "type": role[0],
        "hashes": hashes,
        "properties": {**props, **extra},
    }
    if node is not None:
        spec["depends_on"] = [f"dataset:{n.path}" for n in _upstream_data(graph, node.id)]
    return spec


def _node_for(graph: Graph, dotted: str) -> Node | None:
    return next((n for n in graph.nodes.values() if n.attrs.get("component") == dotted), None)


def _settings(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each component's plain settings (retrieval, parameters, serving, …), without file references."""
    out = {}
    for section, table in data.items():
        if (
            section in NON_COMPONENTS
            or section in ("base_model", "evaluation")
            or not isinstance(table, Mapping)
        ):
            continue
        plain = {k: v for k, v in table.items() if not (isinstance(v, Mapping) and ref_kind(v))}
        plain = {k: v for k, v in plain.items() if not isinstance(v, Mapping)}
        if plain:
            out[str(section)] = plain
    return out


def _datasets(graph: Graph) -> list[Node]:
    """Data the lineage leads to: datasets and intermediate artifacts, not code, params or components.

    A folder that holds components (a stage that reads all of ``prompts/``) is those components, not data.
    """
    components = [n.path for n in graph.nodes.values() if "component" in n.attrs and n.path]
    return [
        n
        for n in graph.nodes.values()
        if n.kind in DATA_KINDS
        and n.path
        and "component" not in n.attrs
        and not any(c.startswith(n.path + "/") for c in components)
    ]


def _upstream_data(graph: Graph, start: str) -> list[Node]:
    feeds, data = upstream(graph), {n.id for n in _datasets(graph)}
    seen, todo, found = {start}, [start], []
    while todo:
        for edge in feeds.get(todo.pop(), []):
            if edge.source not in seen:
                seen.add(edge.source)
                todo.append(edge.source)
                if edge.source in data:
                    found.append(graph.nodes[edge.source])
    return found


def _hashes(algorithm: str, value: str | None) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """CycloneDX hashes of a file, and properties for what is no hash of its content: a DVC directory's
    md5 (``….dir``) is the md5 of DVC's listing of the folder, so it is stated as such, never as an MD5."""
    if not value:
        return [], {}
    if value.endswith(".dir"):
        return [], {"dvc-directory-md5": value, "kind": "directory"}
    return [(algorithm, value)], {}


def _with_files(spec: dict[str, Any], listings: Listings) -> dict[str, Any]:
    """A DVC directory's spec with the files its cached listing names, as nested ``file`` components."""
    props = spec.get("properties", {})
    md5 = props.get("dvc-directory-md5")
    if not md5:
        return spec
    found = listings.files(md5)
    if found is None:
        props["files"] = (
            "not listed: the folder's .dir listing is not in the local DVC cache, or is corrupt there "
            "(`dvc fetch` it)"
        )
        return spec
    entries, hash_name = found
    props["files"] = str(len(entries))
    spec["files"] = [_inner_spec(spec, rel, md5_value, hash_name) for rel, md5_value in entries]
    return spec


def _inner_spec(parent: Mapping[str, Any], rel: str, md5: str, hash_name: str) -> dict[str, Any]:
    """One file inside a DVC directory output. DVC 3 (``hash: md5``) records the md5 of its bytes; DVC 2
    folded CRLF to LF in text files first, which is no MD5 of the file, so it is stated as a property."""
    legacy = hash_name != dvcops.MD5
    return {
        "ref": f"{parent['ref']}/{rel}",
        "name": f"{parent['name']}/{rel}",
        "type": "file",
        "hashes": [] if legacy else [("md5", md5)],
        "properties": {
            "directory": parent["name"],
            "relpath": rel,
            **({"dvc-md5-dos2unix": md5} if legacy else {}),
        },
    }


def _dataset_spec(node: Node) -> dict[str, Any]:
    algorithm, _, value = (node.hash or "").partition(":")
    hashes, extra = _hashes(algorithm, value)
    return {
        "ref": f"dataset:{node.path}",
        "name": str(node.path),
        "type": "data",
        "hashes": hashes,
        "properties": {
            "lineage-kind": node.kind,
            **({"recorded-in": node.attrs["recorded_in"]} if node.attrs.get("recorded_in") else {}),
            **extra,
        },
    }


def _component_data(m: manifest.Manifest, graph: Graph) -> dict[str, dict[str, Any]]:
    """componentData for the data components (the library cannot express it yet)."""
    out: dict[str, dict[str, Any]] = {}
    for ref in m.refs:
        role = FILE_ROLES.get(ref.dotted) or FILE_ROLES.get(ref.key[0])
        if role and role[1]:
            out[ref.dotted] = {"type": role[1], "name": ref.dotted}
    for section, values in _settings(m.data).items():
        props = [
            {"name": str(k), "value": json.dumps(v) if not isinstance(v, str) else v}
            for k, v in values.items()
        ]
        out[f"config:{section}"] = {
            "type": "configuration",
            "name": section,
            "contents": {"properties": props},
        }
    for node in _datasets(graph):
        out[f"dataset:{node.path}"] = {
            "type": "dataset",
            "name": str(node.path),
            "description": f"{node.kind} in the lineage",
        }
    return out


def _model_card(
    graph: Graph, results: evaluation.Results | None, gates: list[evaluation.GateResult]
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "modelParameters": {"datasets": [{"ref": f"dataset:{n.path}"} for n in _datasets(graph)]},
    }
    if results is not None:
        metrics = [
            {
                "type": str(name),
                "value": f"{value:g}" if isinstance(value, float) else str(value),
                "slice": results.path,
            }
            for name, value in sorted(results.metrics.items())
        ]
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
        props = [{"name": "modelver:evaluation-subject", "value": str(results.subject)}]
        props += [
            {"name": f"modelver:gate:{g.metric}", "value": f"{g.rule} ({'pass' if g.ok else 'fail'})"}
            for g in gates
        ]
        card["properties"] = props
    return card


def _attestations(repo: Repo, release: Release, system: dict[str, Any]) -> None:
    """Each OMS signature of the version (``attest``), as an external reference to its file on the
    attestations branch, with the sha256 of its bytes and who it says signed it."""
    import hashlib

    from gitmodelver.attest import branch
    from gitmodelver.attest.statement import REF, signer_hint

    refs = [
        {
            "type": "attestation",
            "url": f"{REF}:{s.path}",
            "comment": f"OpenSSF model signing (Sigstore bundle), signed by {signer_hint(s.bundle)}",
            "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(s.bundle).hexdigest()}],
        }
        for s in branch.of_version(repo, release.tag)
    ]
    if refs:
        system.setdefault("externalReferences", []).extend(refs)


def _validate(doc: Mapping[str, Any]) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    if error is not None:
        raise ModelverError(f"the BOM does not validate against CycloneDX 1.6: {error}")
