"""Lineage as text (a tree walked upstream from the version), Graphviz dot, Mermaid and JSON. Pure."""

from __future__ import annotations

import json

from gitmodelver.audit.lineage_graph import Graph, Node, upstream

# How an edge reads when walking from what it feeds back to its source.
UPSTREAM_PHRASE = {
    "component": "",
    "produces": "produced by ",
    "input": "input ",
    "params": "params ",
    "trained_on": "trained on ",
    "evaluates": "evaluated with ",
}
FILL = {
    "version": "#dbeafe",
    "stage": "#fef3c7",
    "params": "#fef9c3",
    "dataset": "#dcfce7",
    "weights": "#ede9fe",
    "base-model": "#ede9fe",
    "eval-suite": "#cffafe",
    "eval-results": "#cffafe",
}
MARKED_FILL = "#fee2e2"


def short_hash(value: str | None) -> str:
    """``md5:0123456789ab``; a DVC directory's md5 keeps its ``.dir``: ``md5:0123456789ab….dir``."""
    if not value:
        return ""
    algorithm, _, hexdigits = value.partition(":")
    if hexdigits.endswith(".dir"):
        return f"{algorithm}:{hexdigits[:12]}….dir"
    return f"{algorithm}:{hexdigits[:12]}" if hexdigits else value[:12]


def files(node: Node) -> str:
    """``2 files`` for a DVC directory output (``folder`` when DVC did not count them); else empty."""
    if not node.attrs.get("directory"):
        return ""
    count = node.attrs.get("files")
    if not isinstance(count, int):
        return "folder"
    return f"{count} file" + ("" if count == 1 else "s")


def caption(node: Node) -> str:
    """One line about a node: its label, the path when the label is a manifest key, its hash."""
    parts = [node.label]
    if node.path and node.path != node.label and node.kind != "stage":
        parts.append(node.path)
    if node.kind == "stage" and node.attrs.get("cmd"):
        parts.append(f"$ {node.attrs['cmd']}")
    if node.hash:
        parts.append(short_hash(node.hash))
    if files(node):
        parts.append(files(node))
    return "  ".join(parts) + f"  [{node.kind}]"


def _second_line(node: Node) -> str:
    """What the graph formats print under a node's label: its hash, and the file count of a folder."""
    return "  ".join(part for part in (short_hash(node.hash), files(node)) if part)


def text(graph: Graph) -> str:
    feeds = upstream(graph)
    lines: list[str] = []
    seen: set[str] = set()

    def walk(id: str, prefix: str, child_prefix: str, phrase: str) -> None:
        node = graph.nodes[id]
        again = id in seen and bool(feeds.get(id))
        lines.append(f"{prefix}{phrase}{caption(node)}" + ("  (see above)" if again else ""))
        for problem in node.problems if not again else []:
            lines.append(f"{child_prefix}  !! {problem}")
        if again:
            return
        seen.add(id)
        edges = feeds.get(id, [])
        for i, edge in enumerate(edges):
            last = i == len(edges) - 1
            walk(
                edge.source,
                child_prefix + ("└─ " if last else "├─ "),
                child_prefix + ("   " if last else "│  "),
                UPSTREAM_PHRASE.get(edge.relation, f"{edge.relation} "),
            )

    walk(graph.root, "", "", "")
    marked = graph.marked
    if marked:
        lines.append("")
        lines.append(f"{len(marked)} node(s) no longer match their producer's record (marked !!)")
    return "\n".join(lines) + "\n"


def _dot_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(graph: Graph) -> str:
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in graph.nodes.values():
        label = node.label + (f"\n{_second_line(node)}" if _second_line(node) else "")
        attrs = [f"label={_dot_quote(label)}", f"fillcolor={_dot_quote(FILL.get(node.kind, '#ffffff'))}"]
        if node.marked:
            attrs += ['color="#b91c1c"', "penwidth=2", f"fillcolor={_dot_quote(MARKED_FILL)}"]
            attrs.append(f"tooltip={_dot_quote('; '.join(node.problems))}")
        lines.append(f"  {_dot_quote(node.id)} [{', '.join(attrs)}];")
    for edge in graph.edges:
        lines.append(
            f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} [label={_dot_quote(edge.relation)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(value: str) -> str:
    # Mermaid labels are quoted strings: entity codes keep quotes and angle brackets from ending them.
    return value.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


SHAPES = {"stage": ("{{", "}}"), "dataset": ("[(", ")]"), "params": ("[/", "/]"), "version": ("([", "])")}


def mermaid(graph: Graph) -> str:
    ids = {id: f"n{i}" for i, id in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for id, node in graph.nodes.items():
        label = _mermaid_text(node.label) + (
            f"<br/>{_mermaid_text(_second_line(node))}" if _second_line(node) else ""
        )
        left, right = SHAPES.get(node.kind, ("[", "]"))
        lines.append(f'  {ids[id]}{left}"{label}"{right}')
    for edge in graph.edges:
        lines.append(f"  {ids[edge.source]} -->|{edge.relation}| {ids[edge.target]}")
    lines.append("  classDef marked fill:#fee2e2,stroke:#b91c1c,stroke-width:2px")
    marked = [ids[n.id] for n in graph.marked]
    if marked:
        lines.append(f"  class {','.join(marked)} marked")
    return "\n".join(lines) + "\n"


def as_json(graph: Graph) -> str:
    return json.dumps(graph.as_json(), indent=2, ensure_ascii=False) + "\n"


def render(graph: Graph, fmt: str) -> str:
    return {"text": text, "dot": dot, "mermaid": mermaid, "json": as_json}[fmt](graph)
