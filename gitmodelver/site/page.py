"""The page every other one is drawn in, and the small pieces they share: escaping, tables, links. Pure.

Links are relative (``root`` leads back to the site's top), so the site works from ``file://`` and from
any folder of a static host. A Content-Security-Policy lets a page load only the site's own files: no
other origin, no inline script, no event handler attribute, no inline style. Text from the repository
(prompts, messages, names) is escaped wherever it goes, and the policy is the second wall behind that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from gitmodelver import __version__
from gitmodelver.core.semver import parse_tag

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'"
)
NAV = (
    ("index.html", "Home"),
    ("versions.html", "Versions"),
    ("metrics.html", "Metrics"),
    ("compare.html", "Compare"),
)


FRACTION = re.compile(r"\.[0-9]+(?=Z|[+-][0-9]{2}:[0-9]{2}$)")


class Raw(str):
    """Markup that a table cell takes as it is."""


def cell(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return escape(value)


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    caption: str | None = None,
    attrs: Sequence[str] | None = None,
) -> str:
    """A table in its own scrolling box (the page never scrolls sideways); ``attrs``: per-row attributes."""
    out = [f'<div class="scroll"><table class="{cls}">']
    if caption:
        out.append(f"<caption>{escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in head) + "</tr></thead>")
    out.append("<tbody>")
    extra = list(attrs) if attrs is not None else None
    for i, row in enumerate(rows):
        more = f" {extra[i]}" if extra is not None and extra[i] else ""
        out.append(f"<tr{more}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def ok(good: bool, yes: str = "ok", no: str = "FAILED") -> Raw:
    return Raw(f'<span class="good">✓ {yes}</span>' if good else f'<span class="bad">✗ {no}</span>')


def short(value: str | None, length: int = 12) -> Raw:
    """A digest or object id drawn short, the whole of it on hover."""
    if not value:
        return Raw("–")
    algorithm, sep, rest = value.partition(":")
    shown = f"{algorithm}:{rest[:length]}" if sep and len(rest) > length else value[: length + 7]
    more = "…" if len(shown) < len(value) else ""
    return Raw(f'<code class="hash" title="{escape(value)}">{escape(shown)}{more}</code>')


def moment(value: str | None) -> str:
    """A ledger or release time, to the second: ``2026-11-01 12:00:00Z``."""
    if not value:
        return "–"
    text = FRACTION.sub("", value.replace("T", " ", 1))
    return text[:19] + "Z" if text.endswith("Z") else text


def at(value: str | None) -> Raw:
    """A moment in a table cell: kept on one line, the machine-readable time beside it."""
    if not value:
        return Raw("–")
    return Raw(f'<time datetime="{escape(value)}">{escape(moment(value))}</time>')


def version_path(tag: str) -> str:
    name, version = _split(tag)
    return f"v/{name}/{version}.html" if name else "versions.html"


def _split(tag: str) -> tuple[str, str]:
    """(name, version) of a version tag, ("", "") for anything else. Tags of releases were parsed when
    they were listed; anything else (a ledger's traffic keys) goes through the parser."""
    name, sep, version = tag.partition("@v")
    if sep and name and version and "/" not in tag and parse_tag(tag) is not None:
        return name, version
    return "", ""


def files_path(tag: str, name: str) -> str:
    system, version = _split(tag)
    return f"files/{system}/{version}/{name}" if system else name


def data_path(tag: str) -> str:
    system, version = _split(tag)
    return f"data/{system}/{version}.js" if system else ""


def env_path(env: str) -> str:
    return f"env/{env}.html"


def root_of(path: str) -> str:
    """The way back to the site's top from a page at ``path``."""
    return "../" * path.count("/")


def link(root: str, path: str, text: str, cls: str = "") -> Raw:
    klass = f' class="{cls}"' if cls else ""
    return Raw(f'<a href="{escape(root + path)}"{klass}>{escape(text)}</a>')


def version_link(root: str, tag: str, known: Mapping[str, Any] | None = None) -> Raw:
    """A link to a version's page; a tag the repository does not hold is only named."""
    if known is not None and tag not in known:
        return Raw(f"<span>{escape(tag)}</span>")
    return link(root, version_path(tag), tag, "tag")


def split(traffic: Mapping[str, Any]) -> str:
    return ", ".join(f"{tag} {float(share):g}%" for tag, share in traffic.items()) or "nothing"


def traffic_bar(traffic: Mapping[str, Any], palette: Sequence[str]) -> Raw:
    """The split as one bar (SVG: sizes are attributes, so no inline style is needed)."""
    x = 0.0
    parts = []
    shares = [(str(t), float(s)) for t, s in traffic.items() if float(s) > 0]
    for i, (tag, share) in enumerate(shares):
        parts.append(
            f'<rect x="{x:.2f}" y="0" width="{share:.2f}" height="10" fill="{palette[i % len(palette)]}">'
            f"<title>{escape(tag)} {share:g}%</title></rect>"
        )
        x += share
    label = escape(split(dict(shares)))
    return Raw(
        f'<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="traffic: {label}"><rect x="0" y="0" width="100" height="10" fill="#e2e8f0"/>'
        f"{''.join(parts)}</svg>"
    )


def document(
    title: str,
    body: str,
    path: str,
    *,
    scripts: Sequence[str] = (),
    crumbs: Sequence[tuple[str, str]] = (),
) -> str:
    """A whole page at ``path`` (relative to the site's top). ``crumbs``: (path, text) above the title."""
    root = root_of(path)
    current = ' aria-current="page"'
    nav = "".join(f'<a href="{root}{href}"{current if href == path else ""}>{text}</a>' for href, text in NAV)
    trail = ""
    if crumbs:
        steps = [str(link(root, href, text)) if href else escape(text) for href, text in crumbs]
        trail = f'<nav class="crumbs" aria-label="breadcrumb">{" › ".join(steps)}</nav>'
    tags = "".join(f'<script src="{root}assets/{name}"></script>' for name in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gitmodelver {escape(__version__)}">\n'
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{root}assets/site.css">\n'
        f"<title>{escape(title)}</title></head>\n"
        f'<body><a class="skip" href="#main">Skip to content</a>\n'
        f'<header class="top"><nav aria-label="site">{nav}</nav></header>\n'
        f'<main id="main">{trail}\n{body}\n</main>\n'
        f"<footer>Built by gitmodelver {escape(__version__)} from Git: tags, their commits and the "
        f"deployments ledger.</footer>\n{tags}</body></html>\n"
    )
