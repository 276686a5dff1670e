"""The home page: every system with its latest version, what each environment serves now (the split of a
rollout in progress included), and the most recent ledger events. Pure."""

from __future__ import annotations

from html import escape
from typing import Any

from gitmodelver.site.catalog import Catalog
from gitmodelver.site.page import (
    Raw,
    at,
    document,
    env_path,
    link,
    moment,
    short,
    split,
    table,
    traffic_bar,
    version_link,
)

PATH = "index.html"
PALETTE = ("#2563eb", "#d97706", "#16a34a", "#9333ea", "#0891b2", "#db2777")


def render(cat: Catalog, title: str) -> str:
    known = cat.by_tag()
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="quiet">Built {escape(moment(cat.generated_at))} from the version tags and the '
        f"deployments ledger (at {short(cat.ledger.tip)}).</p>",
        "<h2>Systems</h2>",
        _systems(cat),
        "<h2>Environments</h2>",
        _environments(cat, known),
        "<h2>Recent events</h2>",
        _recent(cat, known),
    ]
    return document(title, "\n".join(body), PATH)


def _systems(cat: Catalog) -> str:
    if not cat.systems:
        return "<p>No system here yet: <code>git modelver init</code> writes the first manifest.</p>"
    rows = []
    for s in cat.systems:
        latest = s.versions[0] if s.versions else None
        serving = sorted({env for v in s.versions for env in v.serving})
        rows.append(
            (
                s.name,
                version_link("", latest.tag) if latest else "no release yet",
                latest.release.summary if latest else None,
                len(s.versions),
                ", ".join(serving) or None,
                link("", f"metrics.html#m-{s.name}", "metrics"),
            )
        )
    return table(("system", "latest", "summary", "versions", "serving in", "charts"), rows, cls="systems")


def _environments(cat: Catalog, known: dict[str, Any]) -> str:
    if not cat.environments:
        return (
            '<p class="quiet">Nothing deployed yet: <code>git modelver deploy VERSION --env prod</code>.</p>'
        )
    rows: list[tuple[Any, ...]] = []
    for name in cat.environments:
        state = cat.ledger.states.get(name) or {}
        if state.get("problem") or not state:
            problem = Raw(f'<span class="bad">{escape(str(state.get("problem") or "unreadable"))}</span>')
            rows.append((link("", env_path(name), name), problem, None, None, None))
            continue
        now = state["now"]
        traffic = now.get("traffic") or {}
        serving = Raw(
            "<br>".join(f"{version_link('', str(t), known)} {float(p):g}%" for t, p in traffic.items())
            or "nothing"
        )
        rows.append(
            (
                link("", env_path(name), name),
                serving,
                traffic_bar(traffic, PALETTE),
                now.get("state"),
                at(now.get("at")),
            )
        )
    return table(("environment", "serving now", "split", "state", "since"), rows, cls="envs")


def _recent(cat: Catalog, known: dict[str, Any]) -> str:
    events = cat.ledger.recent
    if not events:
        return '<p class="quiet">No events yet.</p>'
    rows = [
        (
            at(e.get("at")),
            link("", env_path(str(e["env"])), str(e["env"])),
            e.get("type"),
            version_link("", str(e["version"]), known) if e.get("version") else None,
            split(e.get("traffic") or {}),
            (e.get("analysis") or {}).get("verdict"),
            e.get("reason"),
        )
        for e in events
    ]
    return table(
        ("at", "environment", "event", "version", "traffic after", "verdict", "reason"), rows, cls="events"
    )
