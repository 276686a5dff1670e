"""A version's page: who released it and whether it verifies now, the change from the version it follows,
its evaluation against the previous one, where and when it served, its components, lineage and manifest,
and the files to download. Pure: it renders a ``catalog.Version`` and the ``facts`` of it and its
predecessor.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from gitmodelver import advice
from gitmodelver.audit.report_md import MEASUREMENTS
from gitmodelver.gitstore import tagmsg
from gitmodelver.site import change
from gitmodelver.site.catalog import OPEN, Version
from gitmodelver.site.facts import Facts
from gitmodelver.site.page import (
    Raw,
    at,
    document,
    env_path,
    files_path,
    link,
    moment,
    ok,
    root_of,
    short,
    split,
    table,
    version_link,
    version_path,
)

SECTIONS = (
    ("checks", "Verification"),
    ("change", "Change"),
    ("evaluation", "Evaluation"),
    ("served", "Where it served"),
    ("components", "Components"),
    ("lineage", "Lineage"),
    ("manifest", "Manifest"),
)


def downloads(v: Version, facts: Facts, bom: bool) -> dict[str, str]:
    """Name -> path (from the site's top) of every file the page offers."""
    out = {}
    if facts.raw is not None:
        out["manifest"] = files_path(v.tag, "modelver.toml")
    if facts.evaluation is not None and facts.evaluation.raw is not None:
        out["results"] = files_path(v.tag, posixpath.basename(facts.evaluation.path) or "results.json")
    if bom:
        out["bom"] = files_path(v.tag, "bom.cdx.json")
    return out


def render(
    v: Version,
    facts: Facts,
    before: Facts | None,
    *,
    bom: bool,
    known: Mapping[str, Any],
) -> str:
    path = version_path(v.tag)
    root = root_of(path)
    r = v.release
    body = [
        f"<h1>{escape(v.tag)}</h1>",
        f'<p class="lede">{escape(r.summary)}</p>',
        _verdict(v),
        _identity(v, facts, root, known),
        _downloads(v, facts, root, bom),
        '<nav class="toc" aria-label="on this page">'
        + " · ".join(f'<a href="#{key}">{text}</a>' for key, text in SECTIONS)
        + "</nav>",
        _section("checks", "Verification (re-checked when the site was built)", _checks(v)),
        _section("change", _change_title(v), _change(v, facts, before, root)),
        _section("evaluation", "Evaluation", _evaluation(facts, before, v)),
        _section("served", "Where and when it served", _served(v, root)),
        _section("components", "Components and pins", _components(facts)),
        _section("lineage", "Lineage", _lineage(facts)),
        _section("manifest", "Manifest as released", _manifest(v, facts)),
    ]
    crumbs = (("index.html", "Home"), ("versions.html", r.name), ("", r.tag))
    return document(v.tag, "\n".join(body), path, scripts=("site.js",), crumbs=crumbs)


def _section(key: str, title: str, body: str) -> str:
    head = f'<h2 id="{key}-h">{escape(title)}</h2>'
    return f'<section id="{key}" aria-labelledby="{key}-h">{head}\n{body}\n</section>'


def _verdict(v: Version) -> str:
    failed = [c["name"] for c in v.checks if not c["ok"]]
    if not failed:
        return '<p class="verdict pass">✓ Verified: every check passes.</p>'
    return f'<p class="verdict fail">✗ {len(failed)} check(s) fail: {escape(", ".join(failed))}.</p>'


def _identity(v: Version, facts: Facts, root: str, known: Mapping[str, Any]) -> str:
    r, sig = v.release, v.signature
    signer = sig.signer or ("unsigned" if not sig.signed else "unknown signer")
    rows: list[tuple[str, Any]] = [
        ("released", f"{moment(_when(r.time, r.offset))} by {r.tagger or '–'}"),
        ("level", change.level_badge(r.bump)),
        (
            "follows",
            version_link(root, v.previous.tag, known) if v.previous else "nothing: the first release",
        ),
        ("every version", link(root, f"versions.html#system={r.name}", f"{r.name} versions")),
        (
            "signature",
            Raw(f"{ok(sig.verified, 'verified', 'not verified')} {escape(signer)} ({escape(sig.detail)})"),
        ),
        ("commit", short(r.commit)),
        ("tag object", short(r.target)),
        ("version digest", short(facts.digest or r.digest)),
        ("state digest", short(facts.state or r.state)),
    ]
    items = "".join(
        f"<dt>{escape(k)}</dt><dd>{value if isinstance(value, Raw) else escape(str(value))}</dd>"
        for k, value in rows
    )
    return f'<dl class="facts">{items}</dl>'


def _when(time: int | None, offset: int) -> str | None:
    from gitmodelver import output

    return output.when(time, offset)


def _downloads(v: Version, facts: Facts, root: str, bom: bool) -> str:
    files = downloads(v, facts, bom)
    items = []
    if "manifest" in files:
        items.append(f"<li>{link(root, files['manifest'], 'modelver.toml')}: the manifest as released</li>")
    if "results" in files:
        name = posixpath.basename(files["results"])
        items.append(f"<li>{link(root, files['results'], name)}: the evaluation results</li>")
    if "bom" in files:
        items.append(f"<li>{link(root, files['bom'], 'bom.cdx.json')}: CycloneDX 1.6 ML-BOM</li>")
    else:
        command = advice.modelver("bom", v.tag, "-o", "bom.cdx.json")
        items.append(
            "<li>CycloneDX ML-BOM: this site holds the BOMs of the versions serving in an environment now "
            f"(<code>git modelver site --bom all</code> adds every version's); or run "
            f"<code>{escape(command)}</code></li>"
        )
    listed = "".join(items)
    return f'<section class="downloads" aria-label="downloads"><h2>Downloads</h2><ul>{listed}</ul></section>'


def _checks(v: Version) -> str:
    rows = ((c["name"], ok(c["ok"]), c["detail"]) for c in v.checks)
    return table(("check", "result", "detail"), rows, cls="checks")


def _change_title(v: Version) -> str:
    if v.previous is None:
        return "Change: the first release"
    return f"Change from {v.previous.tag}"


def _change(v: Version, facts: Facts, before: Facts | None, root: str) -> str:
    if v.previous is None:
        return '<p class="quiet">The first release of its system: no earlier version to compare with.</p>'
    if facts.manifest is None or before is None or before.manifest is None:
        why = facts.problem or (before.problem if before else None) or "a manifest cannot be read"
        return f'<p class="bad">The change cannot be shown: {escape(why)}</p>'
    found = change.group(before, facts)
    level = found.level or "none"
    claimed = v.release.bump or "–"
    compare = f"compare.html?a={v.previous.tag}&b={v.tag}"
    head = (
        f"<p>Computed level: {change.level_badge(level)}; the tag says {change.level_badge(claimed)}. "
        f"{len(found.changes)} change(s). "
        f'<a class="needs-js" hidden href="{escape(root + compare)}">Open in compare</a></p>'
    )
    return head + change.render(found, "change")


def _evaluation(facts: Facts, before: Facts | None, v: Version) -> str:
    ev = facts.evaluation
    if ev is None:
        return '<p class="quiet">The manifest names no evaluation results.</p>'
    bound = ok(ev.bound, ev.binding, ev.binding)
    parts = [f"<p><code>{escape(ev.path)}</code>: {bound}</p>"]
    parts += [f'<p class="bad">{escape(p)}</p>' for p in ev.problems]
    prev = escape(v.previous.tag) if v.previous else "previous"
    rows = change.metrics_rows(before, facts)
    if rows:
        parts.append(table(("metric", "value", prev, "delta", "gate", "result"), rows, cls="metrics"))
    return "\n".join(parts)


def _served(v: Version, root: str) -> str:
    if not v.served and not v.decisions:
        return '<p class="quiet">Never deployed.</p>'
    rows = [
        (
            link(root, env_path(env), env),
            at(i["from"]),
            "now" if i["to"] == OPEN else at(i["to"]),
            f"{i['share']:g}%",
        )
        for env, intervals in v.served.items()
        for i in intervals
    ]
    parts = [table(("environment", "from", "to", "share"), rows, cls="served")] if rows else []
    if v.decisions:
        parts += ["<h3>Ledger events about it</h3>", decisions_table(v.decisions, root, with_env=True)]
        parts.append(measurements_table(v.decisions))
    return "\n".join(parts)


def decisions_table(events: Sequence[Mapping[str, Any]], root: str, *, with_env: bool = False) -> str:
    head: tuple[str, ...] = (
        "seq",
        "environment",
        "at",
        "event",
        "traffic after",
        "verdict",
        "actor",
        "reason",
    )
    rows = []
    for e in events:
        verdict = (e.get("analysis") or {}).get("verdict")
        row = [e.get("seq"), link(root, env_path(str(e["env"])), str(e["env"])) if with_env else None]
        row += [
            at(e.get("at")),
            e.get("type"),
            split(e.get("traffic") or {}),
            verdict,
            e.get("actor"),
            e.get("reason"),
        ]
        rows.append(tuple(row))
    if not with_env:
        head = tuple(h for h in head if h != "environment")
        rows = [r[:1] + r[2:] for r in rows]
    return table(head, rows, cls="events")


def measurements_table(events: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (e.get("seq"), m.get("metric"), m.get("verdict"), *(m.get(k) for k in MEASUREMENTS))
        for e in events
        for m in (e.get("analysis") or {}).get("metrics") or []
        if isinstance(m, Mapping)
    ]
    if not rows:
        return ""
    return "<h3>Rollout analyses</h3>" + table(
        ("seq", "metric", "verdict", *MEASUREMENTS), rows, cls="measurements"
    )


def _components(facts: Facts) -> str:
    if facts.manifest is None:
        return f'<p class="bad">{escape(facts.problem or "no manifest")}</p>'
    rows = [(r.dotted, r.kind, r.target, _pin(r.pin_field, r.pin)) for r in facts.manifest.refs]
    return (
        table(("reference", "kind", "target", "pin"), rows, cls="pins")
        if rows
        else '<p class="quiet">No file references.</p>'
    )


def _pin(name: str, pin: Any) -> Any:
    if pin is None:
        return "not pinned"
    return short(f"{name}:{pin}") if isinstance(pin, str) else pin


def _lineage(facts: Facts) -> str:
    if facts.lineage is None:
        return '<p class="quiet">No lineage: the manifest cannot be read.</p>'
    marked = facts.lineage.marked
    from gitmodelver.audit import svg_graph

    drawing = svg_graph.render(facts.lineage, "lineage")
    parts = [
        f'<div class="scroll graph" tabindex="0" role="group" aria-label="lineage graph">{drawing}</div>'
    ]
    if marked:
        items = "".join(
            f'<li class="bad">{escape(n.label)}: {escape("; ".join(n.problems))}</li>' for n in marked
        )
        parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts)


def _manifest(v: Version, facts: Facts) -> str:
    parts = []
    if facts.manifest is not None:
        parts.append(f'<pre class="toml">{escape(facts.manifest.text)}</pre>')
    elif facts.raw is not None:
        parts.append(f'<pre class="toml">{escape(facts.raw.decode("utf-8", "replace"))}</pre>')
    message = tagmsg.strip_signature(v.release.message).rstrip()
    if message:
        parts.append(
            f'<details><summary>Tag message</summary><pre class="message">{escape(message)}</pre></details>'
        )
    return "\n".join(parts)
