"""The audit report as one self-contained HTML page: no script, no network, printable. Pure.

A Content-Security-Policy of ``default-src 'none'`` makes "no network" a property a browser enforces, not
a promise: the timeline and every lineage graph are inline SVG drawn here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from gitmodelver.audit import lineage_graph, svg_graph
from gitmodelver.audit.report_md import (
    DECISION_COLUMNS,
    DIGEST_NOTE,
    EVENT_COLUMNS,
    MEASUREMENTS,
    SERVED_COLUMNS,
    decision_rows,
    event_rows,
    served_cells,
    split,
)
from gitmodelver.deploy import timeline

# Nothing may be fetched: styles are inline, there is no script, images could only be data: URLs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#475569")
EVENT_COLOURS = {"deploy": "#2563eb", "promote": "#16a34a", "rollback": "#dc2626", "abort": "#dc2626"}
WIDTH, LABEL_W, ROW_H, ROW_GAP, TOP, BOTTOM = 1000, 210, 26, 6, 34, 26
AXIS_FONT, AXIS_GAP = 11, 10  # px: the axis labels' size (svg .meta) and the least space between two
# A digest, commit or tag object id: shown as its first 12 hex digits, the whole of it on hover and on copy.
HASH = re.compile(r"\b((?:sha256|sha1|md5):)?([0-9a-f]{32,})\b")
SHORT_HEX = 12

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; margin: 24px auto;
       max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #cbd5e1; }
h3 { font-size: 15px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { border: 1px solid #cbd5e1; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f5f9; }
code { font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
.verdict { font-weight: 600; padding: 6px 10px; border-radius: 4px; display: inline-block; }
.pass { background: #dcfce7; color: #14532d; } .fail { background: #fee2e2; color: #7f1d1d; }
.bad { color: #b91c1c; font-weight: 600; } .good { color: #15803d; }
.wide { overflow-x: auto; max-width: 100%; }
code.hash { word-break: normal; white-space: nowrap; }
code.hash::before { content: attr(data-short); }
.full { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
        white-space: nowrap; }
td { position: relative; }
.scroll { overflow-x: auto; border: 1px solid #e2e8f0; border-radius: 4px; padding: 4px; }
svg text { font: 12px system-ui, sans-serif; fill: #0f172a; } svg .meta { font-size: 11px; fill: #475569; }
svg .failed text.row-label { fill: #b91c1c; font-weight: 600; }
pre { background: #f8fafc; border: 1px solid #e2e8f0; padding: 8px; overflow-x: auto; font-size: 12px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  .version { break-before: page; } table, svg { break-inside: avoid; }
  .scroll, .wide { overflow: visible; border: none; } svg { max-width: 100%; height: auto; }
}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return HASH.sub(_hash, escape(value))


def _hash(match: re.Match[str]) -> str:
    """The full value is the element's text, so a copy takes all of it; the short form is drawn by CSS
    (generated content, which Chromium neither selects nor copies) and the full one hidden from view."""
    full = match.group(0)
    short = f"{match.group(1) or ''}{match.group(2)[:SHORT_HEX]}…"
    return (
        f'<code class="hash" title="{full}" data-full="{full}" data-short="{short}">'
        f'<span class="full">{full}</span></code>'
    )


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    out = [
        f'<table class="{cls}"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
    ]
    for row in rows:
        out.append(
            "<tr>" + "".join(f"<td>{v if isinstance(v, Raw) else _cell(v)}</td>" for v in row) + "</tr>"
        )
    # A wide table scrolls inside its own box: the page itself never scrolls sideways.
    return '<div class="wide">' + "".join(out) + "</tbody></table></div>"


class Raw(str):
    """Markup that a table cell takes as it is."""


def _ok(ok: bool) -> Raw:
    return Raw('<span class="good">ok</span>' if ok else '<span class="bad">FAILED</span>')


def timeline_svg(report: Mapping[str, Any]) -> str:
    since, until = report["period"]["since"], report["period"]["until"]
    total = max(timeline.seconds(since, until), 1e-6)
    plot = WIDTH - LABEL_W - 16
    rows = report["versions"]
    height = TOP + max(1, len(rows)) * (ROW_H + ROW_GAP) + BOTTOM

    def x(moment: str) -> float:
        return LABEL_W + plot * min(max(timeline.seconds(since, moment) / total, 0.0), 1.0)

    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="what served in {escape(report["env"])} when">',
        f'<rect x="{LABEL_W}" y="{TOP - 4}" width="{plot}" height="{height - TOP - BOTTOM + 4}" '
        'fill="#f8fafc"/>',
    ]
    for e in report["events"]:
        ex, colour = x(e["at"]), EVENT_COLOURS.get(e["type"], "#64748b")
        title = (
            f"#{e['seq']} {e['type']} {e.get('version', '')} at {e['at']}: {split(e.get('traffic') or {})}"
        )
        if e.get("reason"):
            title += f" ({e['reason']})"
        parts.append(
            f'<g class="event" data-type="{escape(e["type"])}"><title>{escape(title)}</title>'
            f'<line x1="{ex:.1f}" x2="{ex:.1f}" y1="{TOP - 10}" y2="{height - BOTTOM}" stroke="{colour}" '
            f'stroke-opacity="0.35"/><circle class="event" cx="{ex:.1f}" cy="{TOP - 14}" r="4" '
            f'fill="{colour}"/></g>'
        )
    for i, v in enumerate(rows):
        y = TOP + i * (ROW_H + ROW_GAP)
        colour = PALETTE[i % len(PALETTE)]
        failed = not v["verification"]["ok"]
        parts.append(f'<g class="row{" failed" if failed else ""}" data-tag="{escape(v["tag"])}">')
        parts.append(
            f'<text class="row-label" x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4:.1f}" text-anchor="end">'
            f"{'✗ ' if failed else ''}{escape(v['tag'])}</text>"
        )
        for interval in v["served"]["intervals"]:
            x1, x2 = x(interval["from"]), x(interval["to"])
            h = max(3.0, ROW_H * interval["share"] / 100)
            parts.append(
                f'<rect class="interval" x="{x1:.1f}" y="{y + ROW_H - h:.1f}" '
                f'width="{max(x2 - x1, 1.5):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(v['tag'])}: {interval['share']:g}% from {interval['from']} to "
                f"{interval['to']}</title></rect>"
            )
        parts.append("</g>")
    start = timeline.parse(since)
    ticks = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        moment = start + (timeline.parse(until) - start) * fraction
        # The date once, at the start (and wherever it changes): full stamps on every tick overlap.
        pattern = "%H:%M:%S.%f" if fraction and moment.date() == start.date() else "%Y-%m-%d %H:%M:%S.%f"
        ticks.append((LABEL_W + plot * fraction, moment.strftime(pattern)[: -3 if total < 120 else -7] + "Z"))
    for tx, shown, anchor in axis_labels(ticks):
        parts.append(
            f'<text class="meta axis" x="{tx:.1f}" y="{height - 8}" text-anchor="{anchor}">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def text_width(text: str, size: float = AXIS_FONT) -> float:
    """A generous guess at the drawn width (DejaVu Sans, the widest common sans, sets digits at 0.64 em)."""
    return size * sum(0.64 if c.isdigit() else 0.36 if c in ".:,- " else 0.75 for c in text)


def axis_labels(ticks: Sequence[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """(x, text, anchor) for the labels that fit: one that would overlap the label before it is left out.

    The first label starts at its tick and the last ends at its own, so the axis shows both ends of the
    period; when the last would overlap, the one before it gives way instead.
    """

    def extent(i: int, x: float, text: str) -> tuple[float, float, str]:
        w = text_width(text)
        if i == 0:
            return x, x + w, "start"
        if i == len(ticks) - 1:
            return x - w, x, "end"
        return x - w / 2, x + w / 2, "middle"

    kept: list[tuple[float, float, float, str, str]] = []  # left, right, x, text, anchor
    for i, (x, text) in enumerate(ticks):
        left, right, anchor = extent(i, x, text)
        if i == len(ticks) - 1:
            while len(kept) > 1 and left < kept[-1][1] + AXIS_GAP:
                kept.pop()
        if kept and left < kept[-1][1] + AXIS_GAP:
            continue
        kept.append((left, right, x, text, anchor))
    return [(x, text, anchor) for _, _, x, text, anchor in kept]


def render(report: Mapping[str, Any]) -> str:
    period, summary = report["period"], report["summary"]
    title = f"Audit: {report['env']}, {period['since']} to {period['until']}"
    served = summary["versions"]
    verdict = (
        f'<p class="verdict pass">PASS: {served} version(s) served; every one re-verified now.</p>'
        if report["ok"]
        else f'<p class="verdict fail">FAIL: {len(summary["failed"])} of {served} version(s) failed '
        f"verification: {escape(', '.join(summary['failed']))}</p>"
    )
    repo = report["repository"]
    body = [
        "<header>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Generated {escape(report['generated_at'])} by {escape(report['tool']['name'])} "
        f"{escape(report['tool']['version'])} from <code>{escape(repo['path'])}</code> (ledger "
        f"<code>{escape(repo['ledger_ref'])}</code> at <code>{escape(repo['ledger_tip'])}</code>).</p>",
        verdict,
        f'<p class="digest">Report digest: <code>{report["report_digest"]}</code>, '
        f"the {escape(DIGEST_NOTE)}.</p>",
        "</header>",
        '<section id="timeline"><h2>Timeline</h2>',
        "<p>Bar height is the traffic share; dots mark ledger events (hover for details).</p>",
        f'<div class="scroll">{timeline_svg(report)}</div>',
        table(
            ("from", "to", "traffic", "set by"),
            (
                (s["from"], s["to"], split(s["traffic"]), f"#{s['event']['seq']} {s['event']['type']}")
                for s in report["timeline"]
            ),
        ),
        "</section>",
        '<section id="served"><h2>Versions that served</h2>',
        table(
            SERVED_COLUMNS,
            (
                (
                    Raw(f'<a href="#{_anchor(v["tag"])}">{escape(v["tag"])}</a>'),
                    *served_cells(v),
                    _ok(v["verification"]["ok"]),
                )
                for v in report["versions"]
            ),
        ),
        "</section>",
        '<section id="events"><h2>Events in the period</h2>',
        table(EVENT_COLUMNS, event_rows(report)),
        "</section>",
    ]
    body += [version_section(v, i) for i, v in enumerate(report["versions"])]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gitmodelver {escape(report["tool"]["version"])}">\n'
        f'<meta name="report_digest" content="{report["report_digest"]}">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _anchor(tag: str) -> str:
    return "v-" + "".join(c if c.isalnum() else "-" for c in tag)


def version_section(v: Mapping[str, Any], index: int) -> str:
    sig = v["signature"]
    parts = [
        f'<section class="version" id="{_anchor(v["tag"])}"><h2>{escape(v["tag"])}</h2>',
        table(
            ("field", "value"),
            (
                ("commit", Raw(_cell(v["commit"]))),
                ("tag object", Raw(_cell(v["tag_object"]))),
                ("version digest", Raw(_cell(v["digest"]))),
                ("state digest", Raw(_cell(v["state"]))),
                ("released", f"{v['released_at']} by {v['tagger']}"),
                ("bump", f"{v['bump']} from {v['previous'] or 'nothing (first release)'}"),
                ("signature", sig["detail"] + (f" ({sig['format']})" if sig.get("format") else "")),
            ),
        ),
        "<h3>Served</h3>",
        table(
            ("from", "to", "share"),
            ((i["from"], i["to"], f"{i['share']:g}%") for i in v["served"]["intervals"]),
        ),
        "<h3>Verification (re-verified now)</h3>",
        table(
            ("check", "result", "detail"),
            ((c["name"], _ok(c["ok"]), c["detail"]) for c in v["verification"]["checks"]),
        ),
    ]
    if v.get("pins"):
        parts += [
            "<h3>Components and pins</h3>",
            table(
                ("reference", "kind", "target", "pin"),
                ((p["ref"], p["kind"], p["target"], f"{p['field']} {p['pin']}") for p in v["pins"]),
            ),
        ]
    parts += _manifest(v)
    parts += (
        _change(v.get("change")) + _evaluation(v.get("evaluation")) + _decisions(v.get("decisions") or [])
    )
    if v.get("lineage"):
        graph = lineage_graph.from_json(v["lineage"])
        marked = graph.marked
        parts += [
            "<h3>Lineage</h3>",
            f'<div class="scroll">{svg_graph.render(graph, f"lineage-{index}")}</div>',
        ]
        if marked:
            parts.append(
                "<ul>"
                + "".join(
                    f'<li class="bad">{escape(n.label)}: {escape("; ".join(n.problems))}</li>' for n in marked
                )
                + "</ul>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def _manifest(v: Mapping[str, Any]) -> list[str]:
    """The manifest as released, in the TOML its authors wrote; a report from before `manifest_text`
    existed has only the parsed components, written back as TOML."""
    text = v.get("manifest_text")
    if text is None and v.get("components"):
        import tomlkit

        text = tomlkit.dumps(v["components"])
    if text is None:
        return []
    return ["<h3>Manifest as released</h3>", f'<pre class="manifest toml">{escape(text)}</pre>']


def _change(ch: Mapping[str, Any] | None) -> list[str]:
    if not ch:
        return []
    title = f"Change from {ch['from']} ({ch['bump']})" if ch["from"] else f"First release ({ch['bump']})"
    rows = ((c["path"], c["old"], c["new"], c["level"]) for c in ch["changes"])
    return [f"<h3>{escape(title)}</h3>", table(("path", "old", "new", "level"), rows)]


def _evaluation(ev: Mapping[str, Any] | None) -> list[str]:
    if not ev:
        return ["<h3>Evaluation</h3>", "<p>No evaluation results are named in the manifest.</p>"]
    bound = (
        '<span class="good">bound to this state</span>'
        if ev["bound"]
        else '<span class="bad">not bound to this state</span>'
    )
    parts = [
        "<h3>Evaluation</h3>",
        f"<p><code>{escape(ev['path'])}</code> ({bound}), created {_cell(ev.get('created_at'))}.</p>",
        table(("metric", "value"), sorted(ev["metrics"].items())),
    ]
    if ev["gates"]:
        parts.append(
            table(
                ("gate", "rule", "value", "result"),
                ((g["metric"], g["rule"], g["value"], _ok(g["ok"])) for g in ev["gates"]),
            )
        )
    return parts


def _decisions(events: Sequence[Mapping[str, Any]]) -> list[str]:
    if not events:
        return []
    parts = [
        "<h3>Rollout decisions</h3>",
        table(DECISION_COLUMNS, decision_rows(events)),
    ]
    rows = [
        (e["seq"], m.get("metric"), m.get("verdict"), *(m.get(k) for k in MEASUREMENTS))
        for e in events
        for m in (e.get("analysis") or {}).get("metrics") or []
    ]
    if rows:
        parts += ["<p>Measurements:</p>", table(("seq", "metric", "verdict", *MEASUREMENTS), rows)]
    return parts
