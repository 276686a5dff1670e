"""A lineage graph drawn as inline SVG by a small layered layout (no Graphviz, no script). Pure.

Layers run left to right with the data: a node's layer is set by its longest path to the version, so the
version sits alone at the right and raw data at the far left. Within a layer, a few barycentre sweeps
order nodes near the ones they connect to, which removes most crossings on graphs of this size.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from gitmodelver.audit.lineage_graph import Graph, Node
from gitmodelver.audit.lineage_render import FILL, MARKED_FILL, short_hash

NODE_W, NODE_H = 220, 44
GAP_X, GAP_Y = 70, 16
VIRTUAL_H = 10  # the slot a long edge takes in a column it crosses
PAD = 12
SWEEPS = 6
MAX_LABEL = 30


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    layer: int


def _layers(graph: Graph) -> dict[str, int]:
    """Distance from the version along the longest path, as a layer counted from the right."""
    out: dict[str, list[str]] = {}
    for e in graph.edges:
        out.setdefault(e.source, []).append(e.target)
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def walk(id: str) -> int:
        if id in depth:
            return depth[id]
        if id in visiting:  # a cycle cannot come from DVC, but never loop on bad input
            return 0
        visiting.add(id)
        targets = out.get(id, [])
        depth[id] = 0 if id == graph.root or not targets else 1 + max(walk(t) for t in targets)
        visiting.discard(id)
        return depth[id]

    for id in graph.nodes:
        walk(id)
    deepest = max(depth.values(), default=0)
    return {id: deepest - d for id, d in depth.items()}


@dataclass
class Layout:
    boxes: dict[str, Box]  # real nodes, by id
    routes: list[list[tuple[float, float]]]  # per edge: the points it passes, source to target
    width: float
    height: float


def _chains(graph: Graph, layer: dict[str, int]) -> tuple[dict[str, int], list[list[str]]]:
    """Virtual nodes on every layer a long edge crosses, so edges get slots instead of crossing boxes."""
    layers = dict(layer)
    chains = []
    for i, e in enumerate(graph.edges):
        chain = [e.source]
        for k in range(layer[e.source] + 1, layer[e.target]):
            virtual = f"~{i}~{k}"
            layers[virtual] = k
            chain.append(virtual)
        chains.append([*chain, e.target])
    return layers, chains


def _order(columns: dict[int, list[str]], chains: list[list[str]]) -> None:
    neighbours: dict[str, list[str]] = {id: [] for col in columns.values() for id in col}
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            neighbours[a].append(b)
            neighbours[b].append(a)
    order = {id: float(i) for col in columns.values() for i, id in enumerate(col)}
    for sweep in range(SWEEPS):
        for key in sorted(columns, reverse=sweep % 2 == 0):  # right to left, then left to right
            col = columns[key]
            bary = {
                id: sum(order[n] for n in neighbours[id]) / len(neighbours[id])
                if neighbours[id]
                else order[id]
                for id in col
            }
            col.sort(key=lambda id: (bary[id], order[id]))
            for i, id in enumerate(col):
                order[id] = float(i)


def _height(id: str) -> float:
    return VIRTUAL_H if id.startswith("~") else NODE_H


def layout(graph: Graph) -> Layout:
    layers, chains = _chains(graph, _layers(graph))
    columns: dict[int, list[str]] = {}
    for id, key in layers.items():
        columns.setdefault(key, []).append(id)
    _order(columns, chains)
    extent = {key: sum(_height(id) for id in col) + GAP_Y * (len(col) - 1) for key, col in columns.items()}
    height = PAD * 2 + max(extent.values(), default=NODE_H)
    places: dict[str, Box] = {}
    for key, col in columns.items():
        y = (height - extent[key]) / 2
        for id in col:
            places[id] = Box(PAD + key * (NODE_W + GAP_X), y, key)
            y += _height(id) + GAP_Y
    routes = []
    for chain in chains:
        source, target = places[chain[0]], places[chain[-1]]
        points = [(source.x + NODE_W, source.y + NODE_H / 2)]
        for virtual in chain[1:-1]:
            box = places[virtual]  # a straight run across the column, in the slot it was given
            points += [(box.x, box.y + VIRTUAL_H / 2), (box.x + NODE_W, box.y + VIRTUAL_H / 2)]
        points.append((target.x, target.y + NODE_H / 2))
        routes.append(points)
    deepest = max(columns, default=0)
    width = PAD * 2 + (deepest + 1) * NODE_W + deepest * GAP_X
    boxes = {id: box for id, box in places.items() if not id.startswith("~")}
    return Layout(boxes, routes, width, height)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _node(node: Node, box: Box) -> str:
    fill = MARKED_FILL if node.marked else FILL.get(node.kind, "#ffffff")
    stroke = "#b91c1c" if node.marked else "#64748b"
    title = [node.label, f"kind: {node.kind}"]
    if node.path and node.path != node.label:
        title.append(f"path: {node.path}")
    if node.hash:
        title.append(f"hash: {node.hash}")
    if node.attrs.get("cmd"):
        title.append(f"cmd: {node.attrs['cmd']}")
    title += [f"!! {p}" for p in node.problems]
    second = f"{node.kind}  {short_hash(node.hash)}".strip()
    classes = "node marked" if node.marked else "node"
    return (
        f'<g class="{classes}" data-id="{escape(node.id)}" data-kind="{escape(node.kind)}">'
        f"<title>{escape(chr(10).join(title))}</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if node.marked else 1}"/>'
        f'<text x="{box.x + 8:.1f}" y="{box.y + 18:.1f}" class="label">'
        f"{'⚠ ' if node.marked else ''}{escape(_clip(node.label))}</text>"
        f'<text x="{box.x + 8:.1f}" y="{box.y + 35:.1f}" class="meta">{escape(_clip(second))}</text>'
        "</g>"
    )


def _edge(points: list[tuple[float, float]], relation: str, marker: str) -> str:
    """Curves between the columns, straight runs through them."""
    (x, y), rest = points[0], points[1:]
    d = [f"M{x:.1f},{y:.1f}"]
    for i, (nx, ny) in enumerate(rest):
        if i % 2 == 0:  # from the right side of one column to the left side of the next
            bend = max(20.0, (nx - x) / 2)
            d.append(f"C{x + bend:.1f},{y:.1f} {nx - bend:.1f},{ny:.1f} {nx:.1f},{ny:.1f}")
        else:
            d.append(f"L{nx:.1f},{ny:.1f}")
        x, y = nx, ny
    dashed = ' stroke-dasharray="5 3"' if relation in ("trained_on", "params") else ""
    return (
        f'<path class="edge" data-relation="{relation}" d="{" ".join(d)}" fill="none" stroke="#94a3b8" '
        f'stroke-width="1.3"{dashed} marker-end="url(#{marker})"><title>{escape(relation)}</title></path>'
    )


def render(graph: Graph, ident: str = "lineage") -> str:
    placed = layout(graph)
    boxes, width, height = placed.boxes, placed.width, placed.height
    marker = f"{ident}-arrow"  # ids are page-wide: one arrowhead per drawing
    parts = [
        f'<svg class="lineage" id="{escape(ident)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="lineage of {escape(graph.nodes[graph.root].label)}">',
        f'<defs><marker id="{escape(marker)}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/>'
        "</marker></defs>",
    ]
    parts += [_edge(route, e.relation, marker) for e, route in zip(graph.edges, placed.routes, strict=True)]
    parts += [_node(graph.nodes[id], boxes[id]) for id in graph.nodes]
    parts.append("</svg>")
    return "".join(parts)
