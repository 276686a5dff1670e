"""The lineage graph: nodes with hashes and problems, typed edges; JSON both ways for the renderers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    id: str
    kind: str  # version, base-model, weights, prompt, index, eval-suite, eval-results, config, file,
    #            stage, params, dataset, artifact, code, data
    label: str
    hash: str | None = None  # "md5:…", "sha256:…", or "rev:…" for a base model's revision
    path: str | None = None  # repo-relative, for files
    attrs: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def marked(self) -> bool:
        return bool(self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "hash": self.hash,
            "path": self.path,
            "attrs": self.attrs,
            "marked": self.marked,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str  # component, produces, input, params, trained_on, evaluates

    def as_json(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass
class Graph:
    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def node(self, id: str, kind: str, label: str, **extra: Any) -> Node:
        """The node ``id``, made on first sight; a later sighting never downgrades its kind."""
        found = self.nodes.get(id)
        if found is None:
            found = self.nodes[id] = Node(id, kind, label, **extra)
        return found

    def edge(self, source: str, target: str, relation: str) -> None:
        edge = Edge(source, target, relation)
        if edge not in self.edges:
            self.edges.append(edge)

    @property
    def marked(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.marked]

    def as_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [n.as_json() for n in self.nodes.values()],
            "edges": [e.as_json() for e in self.edges],
        }


def file_id(path: str) -> str:
    return f"file:{path}"


def upstream(graph: Graph) -> dict[str, list[Edge]]:
    """Edges by target: what feeds each node."""
    feeds: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        feeds.setdefault(edge.target, []).append(edge)
    return feeds


def from_json(doc: Mapping[str, Any]) -> Graph:
    """The graph back from ``Graph.as_json`` (the audit report carries lineage as JSON)."""
    graph = Graph(str(doc["root"]))
    for n in doc.get("nodes") or []:
        graph.nodes[n["id"]] = Node(
            n["id"],
            n["kind"],
            n["label"],
            n.get("hash"),
            n.get("path"),
            dict(n.get("attrs") or {}),
            list(n.get("problems") or []),
        )
    graph.edges = [Edge(e["source"], e["target"], e["relation"]) for e in doc.get("edges") or []]
    return graph
