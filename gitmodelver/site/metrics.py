"""Evaluation metrics over time: for each system and metric, a line across its versions (oldest to newest)
with the gate's threshold drawn where the manifest set one, versions failing a gate marked. Inline SVG,
no script; the numbers are also in a table under each chart. Pure: it draws what ``facts.summary`` kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from gitmodelver.site.catalog import Catalog, SystemVersions
from gitmodelver.site.page import document, table, version_link

PATH = "metrics.html"
W, H = 900, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 40
GATE = re.compile(r"^\s*(>=|<=|==|>|<)\s*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*$")
SYMBOL = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<"}
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Point:
    index: int  # position among the system's versions, oldest first
    tag: str
    value: float | None
    threshold: float | None
    rule: str | None
    failed: bool


def threshold(rule: str | None) -> float | None:
    found = GATE.match(rule) if rule else None
    return float(found.group(2)) if found else None


def series(tags: Sequence[str], summaries: Mapping[str, Mapping[str, Any]], metric: str) -> list[Point]:
    points = []
    for i, tag in enumerate(tags):
        s = summaries.get(tag) or {}
        value = (s.get("metrics") or {}).get(metric)
        rule = (s.get("gates") or {}).get(metric)
        failed = metric in (s.get("failed") or [])
        points.append(
            Point(i, tag, float(value) if value is not None else None, threshold(rule), rule, failed)
        )
    return points


def names(tags: Sequence[str], summaries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every metric or gate of the system's versions, in the order they first appear."""
    found: dict[str, None] = {}
    for tag in tags:
        s = summaries.get(tag) or {}
        for name in [*(s.get("metrics") or {}), *(s.get("gates") or {})]:
            found.setdefault(name, None)
    return list(found)


def _scale(points: Sequence[Point]) -> tuple[float, float]:
    values = [p.value for p in points if p.value is not None] + [
        p.threshold for p in points if p.threshold is not None
    ]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def chart(points: Sequence[Point], metric: str, ident: str) -> str:
    low, high = _scale(points)
    n = max(len(points) - 1, 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * (i / n if len(points) > 1 else 0.5)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" id="{ident}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(metric)} across {len(points)} versions">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#f8fafc" stroke="#cbd5e1"/>',
    ]
    for k in range(5):
        value = low + (high - low) * k / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e2e8f0"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.4g}</text>'
        )
    parts += _x_labels(points, x)
    parts += _gate_lines(points, x, y)
    parts += _value_lines(points, x, y)
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(points: Sequence[Point], x: Any) -> list[str]:
    if not points:
        return []
    step = max(1, (len(points) - 1) // (MAX_X_LABELS - 1) or 1)
    picks = sorted({*range(0, len(points), step), len(points) - 1})
    if len(picks) > 1 and picks[-1] - picks[-2] < step / 2:
        picks.pop(-2)  # the last label wins over one too close before it
    out = []
    for i in picks:
        anchor = (
            "start"
            if i == 0 and len(points) > 1
            else "end"
            if i == len(points) - 1 and len(points) > 1
            else "middle"
        )
        label = points[i].tag.split("@", 1)[-1]
        out.append(
            f'<text class="axis" x="{x(i):.1f}" y="{H - BOTTOM + 18}" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    return out


def _runs(points: Sequence[Point], key: str) -> list[list[Point]]:
    """Consecutive points that have a value (or a threshold): a gap breaks the line."""
    runs: list[list[Point]] = []
    current: list[Point] = []
    for p in points:
        if getattr(p, key) is None:
            if current:
                runs.append(current)
            current = []
            continue
        if key == "threshold" and current and current[-1].threshold != p.threshold:
            current.append(Point(p.index, p.tag, None, current[-1].threshold, None, False))  # the step
        current.append(p)
    if current:
        runs.append(current)
    return runs


def _gate_lines(points: Sequence[Point], x: Any, y: Any) -> list[str]:
    out = []
    for run in _runs(points, "threshold"):
        coords = " ".join(f"{x(p.index):.1f},{y(p.threshold):.1f}" for p in run)
        if len(run) == 1:
            at, level = x(run[0].index), y(run[0].threshold)
            coords = f"{at - 4:.1f},{level:.1f} {at + 4:.1f},{level:.1f}"
        rule = next((p.rule for p in reversed(run) if p.rule), "")
        found = GATE.match(rule or "")
        label = f"gate {SYMBOL.get(found.group(1), '')} {found.group(2)}" if found else "gate"
        out.append(
            f'<polyline class="gate" points="{coords}" fill="none" stroke="#b91c1c" stroke-width="1.5" '
            f'stroke-dasharray="6 4"><title>{escape(label)}</title></polyline>'
        )
    last = next((p for p in reversed(points) if p.threshold is not None), None)
    if last is not None and last.rule:
        found = GATE.match(last.rule)
        label = f"gate {SYMBOL[found.group(1)]} {found.group(2)}" if found else "gate"
        out.append(
            f'<text class="gate-label" x="{W - RIGHT - 4}" y="{y(last.threshold) - 5:.1f}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    return out


def _value_lines(points: Sequence[Point], x: Any, y: Any) -> list[str]:
    out = []
    for run in _runs(points, "value"):
        coords = " ".join(f"{x(p.index):.1f},{y(p.value):.1f}" for p in run)
        out.append(
            f'<polyline class="value" points="{coords}" fill="none" stroke="#2563eb" stroke-width="1.8"/>'
        )
    for p in points:
        if p.value is None:
            continue
        fill = "#b91c1c" if p.failed else "#2563eb"
        verdict = " (fails its gate)" if p.failed else ""
        out.append(
            f'<circle class="point{" failed" if p.failed else ""}" cx="{x(p.index):.1f}" '
            f'cy="{y(p.value):.1f}" r="{4 if p.failed else 2.6}" fill="{fill}">'
            f"<title>{escape(p.tag)}: {p.value:g}{verdict}</title></circle>"
        )
    return out


def _system(s: SystemVersions, summaries: Mapping[str, Mapping[str, Any]]) -> str:
    tags = [v.tag for v in reversed(s.versions)]
    metrics = names(tags, summaries)
    head = f'<section id="m-{escape(s.name)}"><h2>{escape(s.name)}</h2>'
    if not metrics:
        return head + '<p class="quiet">No version names evaluation results with numbers.</p></section>'
    parts = [head]
    for k, metric in enumerate(metrics):
        points = series(tags, summaries, metric)
        ident = f"chart-{s.name}-{k}"
        failed = sum(p.failed for p in points)
        note = f", {failed} version(s) failing its gate" if failed else ""
        rows = [
            (version_link("", p.tag), p.value, p.rule, "fails" if p.failed else None)
            for p in reversed(points)
        ]
        parts += [
            f"<h3>{escape(metric)}</h3>",
            f'<p class="quiet">{sum(p.value is not None for p in points)} of {len(points)} versions{note}'
            + ("; the dashed line is the gate" if any(p.threshold is not None for p in points) else "")
            + ".</p>",
            f'<figure class="chart">{chart(points, metric, ident)}</figure>',
            f"<details><summary>Values of {escape(metric)}</summary>"
            + table(("version", "value", "gate", "result"), rows, cls="values")
            + "</details>",
        ]
    parts.append("</section>")
    return "\n".join(parts)


def render(cat: Catalog, summaries: Mapping[str, Mapping[str, Any]]) -> str:
    body = ["<h1>Metrics over time</h1>"]
    if cat.systems:
        body.append(
            '<nav class="toc" aria-label="systems">'
            + " · ".join(f'<a href="#m-{escape(s.name)}">{escape(s.name)}</a>' for s in cat.systems)
            + "</nav>"
        )
    body += [_system(s, summaries) for s in cat.systems]
    return document("Metrics over time", "\n".join(body), PATH)
