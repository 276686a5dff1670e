"""The versions table: every release of every system, as ``log`` lists them, with where each served.
Sorting, filtering and picking two versions to compare happen in the page (``static/site.js``); without
JavaScript the table is all there, highest version first. Pure.
"""

from __future__ import annotations

from html import escape

from gitmodelver import output
from gitmodelver.site.catalog import Catalog, Version
from gitmodelver.site.change import level_badge
from gitmodelver.site.page import Raw, document, ok, short, table, version_link

PATH = "versions.html"
HEAD = ("version", "date", "level", "signer", "checks", "digest", "summary", "served in", "compare")


def signer(v: Version) -> str:
    sig = v.signature
    return sig.signer or ("unsigned" if not sig.signed else "unknown")


def _row(v: Version) -> tuple[object, ...]:
    r = v.release
    date = output.when(r.time, r.offset) or ""
    envs = ", ".join(f"{env} {share:g}%" if env in v.serving else env for env, share in _envs(v))
    pick = Raw(
        f'<input type="checkbox" class="pick" value="{escape(v.tag)}" aria-label="compare {escape(v.tag)}">'
    )
    return (
        version_link("", v.tag),
        Raw(f'<time datetime="{escape(date)}">{escape(date[:16].replace("T", " "))}</time>'),
        level_badge(r.bump),
        _signed(v),
        ok(v.ok),
        short(r.digest),
        r.summary,
        envs or None,
        pick,
    )


def _signed(v: Version) -> Raw:
    """The signer, and whether git verifies the signature under the trust configured here."""
    sig = v.signature
    if not sig.signed:
        return Raw('<span class="bad">✗ unsigned</span>')
    mark = '<span class="good">✓</span>' if sig.verified else '<span class="bad">✗ not verified:</span>'
    return Raw(f"{mark} {escape(signer(v))}")


def _envs(v: Version) -> list[tuple[str, float]]:
    return sorted(v.places.items())


def _attrs(v: Version, order: int) -> str:
    r = v.release
    return (
        f'data-system="{escape(r.name)}" data-level="{escape(r.bump or "")}" '
        f'data-signer="{escape(signer(v))}" data-envs="{escape(" ".join(sorted(v.places)))}" '
        f'data-order="{order}" data-time="{r.time or 0}"'
    )


def _options(values: list[str]) -> str:
    return "".join(f'<option value="{escape(x)}">{escape(x)}</option>' for x in sorted(set(values)))


def _select(key: str, label: str, values: list[str]) -> str:
    return (
        f'<label for="f-{key}">{label}</label> <select id="f-{key}"><option value="">all</option>'
        f"{_options(values)}</select>\n"
    )


def render(cat: Catalog) -> str:
    versions = cat.versions()
    rows = [_row(v) for v in versions]
    # data-order: the SemVer order within each system (highest first), for sorting by version
    attrs = [_attrs(v, i) for i, v in enumerate(versions)]
    signers = [signer(v) for v in versions]
    systems = [s.name for s in cat.systems]
    envs = list(cat.environments)
    levels = [v.release.bump or "" for v in versions]
    choices = "".join(
        _select(key, label, values)
        for key, label, values in (
            ("system", "System", systems),
            ("level", "Level", [x for x in levels if x]),
            ("signer", "Signer", signers),
            ("env", "Environment", envs),
        )
    )
    filters = f"""<form id="filters" class="controls needs-js" hidden role="search" aria-label="filter">
<label for="f-text">Text</label> <input id="f-text" type="search" placeholder="tag, digest, summary">
{choices}
<button type="button" id="compare-picked" disabled>Compare the two picked</button>
</form>
<p id="shown" class="quiet" role="status">{len(versions)} version(s)</p>"""
    if not versions:
        body = "<h1>Versions</h1><p>No releases yet: <code>git modelver release</code> makes the first.</p>"
        return document("Versions", body, PATH)
    body = "<h1>Versions</h1>\n" + filters + "\n" + table(HEAD, rows, cls="versions sortable", attrs=attrs)
    return document("Versions", body, PATH, scripts=("site.js",))
