"""An environment's pages: what serves now, the timeline of what served when (the audit report's
drawing), every event with its rollout verdict and measurements, and ``asof`` for a moment picked in the
page. Pure.

Events are cut into windows of ``WINDOW``, newest last: the environment's page shows the latest window and
the ``asof`` picker; each earlier window has a page of its own, which never changes once the window is
full (so a rebuild leaves it alone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from gitmodelver.deploy import timeline
from gitmodelver.site.catalog import Environment, Version
from gitmodelver.site.page import (
    Raw,
    at,
    document,
    env_path,
    link,
    root_of,
    split,
    table,
    version_link,
)
from gitmodelver.site.version import measurements_table

WINDOW = 500


@dataclass(frozen=True)
class Window:
    index: int
    events: list[dict[str, Any]]
    since: str
    until: str  # the next window's first event, or the build's time for the latest

    @property
    def first(self) -> int:
        return int(self.events[0]["seq"])

    @property
    def last(self) -> int:
        return int(self.events[-1]["seq"])


def windows(env: Environment, now: str) -> list[Window]:
    events = env.events
    found = []
    for index, start in enumerate(range(0, len(events), WINDOW)):
        chunk = events[start : start + WINDOW]
        later = (
            events[start + WINDOW]["at"] if start + WINDOW < len(events) else max(now, str(chunk[-1]["at"]))
        )
        found.append(Window(index, chunk, str(chunk[0]["at"]), str(later)))
    return found


def window_path(env: str, index: int) -> str:
    return f"env/{env}/events-{index + 1}.html"


def report_of(env: Environment, window: Window, versions: Mapping[str, Version]) -> dict[str, Any]:
    """The part of an audit report the timeline drawing reads, for one window."""
    start = window.index * WINDOW
    around = env.events[max(start - 1, 0) : start + len(window.events) + 1]
    cut = timeline.segments(around, window.since, window.until)
    rows = [
        {
            "tag": tag,
            "verification": {"ok": tag in versions and versions[tag].ok},
            "served": {"intervals": served.intervals},
        }
        for tag, served in timeline.served(cut).items()
    ]
    return {
        "env": env.name,
        "period": {"since": window.since, "until": window.until},
        "events": window.events,
        "versions": rows,
    }


def _timeline(env: Environment, window: Window, versions: Mapping[str, Version]) -> str:
    if window.since >= window.until:
        return '<p class="quiet">All the events of this window happened at one moment: nothing to draw.</p>'
    from gitmodelver.audit import report_html  # the audit report's drawing, loaded when one is drawn

    svg = report_html.timeline_svg(report_of(env, window, versions))
    return (
        "<p>Bar height is the traffic share; dots mark ledger events (hover for details). A version whose "
        "checks fail is marked ✗.</p>"
        f'<div class="scroll graph" tabindex="0" role="group" aria-label="timeline">{svg}</div>'
    )


def _events(window: Window, path: str, versions: Mapping[str, Version]) -> str:
    root = root_of(path)
    newest = list(reversed(window.events))
    rows = [
        (
            e.get("seq"),
            at(e.get("at")),
            e.get("type"),
            version_link(root, str(e["version"]), versions) if e.get("version") else None,
            split(e.get("traffic") or {}),
            (e.get("analysis") or {}).get("verdict"),
            e.get("actor"),
            e.get("reason"),
        )
        for e in newest
    ]
    head = ("seq", "at", "event", "version", "traffic after", "verdict", "actor", "reason")
    return table(head, rows, cls="events") + measurements_table(newest)


def _pager(env: Environment, current: int, path: str) -> str:
    root = root_of(path)
    count = (len(env.events) + WINDOW - 1) // WINDOW
    if count < 2:
        return ""
    links = []
    for i in range(count):
        text = f"{i * WINDOW + 1}–{min((i + 1) * WINDOW, len(env.events))}"
        target = env_path(env.name) if i == count - 1 else window_path(env.name, i)
        links.append(f"<strong>{text}</strong>" if i == current else str(link(root, target, text)))
    return f'<nav class="pager" aria-label="event windows">Events: {" · ".join(links)}</nav>'


def asof_data(env: Environment) -> str:
    """Every event's time and split, oldest first, as JSON the page can hold without it being markup."""
    rows = [[e["at"], e["seq"], e["type"], e.get("version"), e.get("traffic") or {}] for e in env.events]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("&", "\\u0026")


def render(env: Environment, versions: Mapping[str, Version], now: str) -> str:
    """The environment's own page: now, asof, and the latest window of events."""
    path = env_path(env.name)
    root = root_of(path)
    if env.problem is not None:
        problems = "".join(f"<li>{escape(p)}</li>" for p in env.problem.problems)
        repair = env.problem.fix
        how = f"<p>To bring back a sound ledger: <code>{escape(repair)}</code></p>" if repair else ""
        broken = (
            f'<h1>Environment {escape(env.name)}</h1><p class="verdict fail">The ledger of this environment '
            f"is broken: nothing of it is shown until it is sound again.</p><ul>{problems}</ul>{how}"
        )
        return document(f"Environment {env.name}", broken, path)
    found = windows(env, now)
    latest = found[-1] if found else None
    state = env.now
    serving = Raw(
        "<br>".join(
            f"{version_link(root, str(t), versions)} {float(p):g}%"
            for t, p in (state["traffic"] or {}).items()
        )
        or "nothing"
    )
    body = [
        f"<h1>Environment {escape(env.name)}</h1>",
        table(
            ("serving now", "state", "stable", "candidate", "last event"),
            [
                (
                    serving,
                    state.get("state"),
                    state.get("stable"),
                    state.get("candidate"),
                    at(state.get("at")),
                )
            ],
            cls="now",
        ),
        _asof_form(env),
    ]
    if latest is not None:
        body += [
            f"<h2>Timeline, events {latest.first}–{latest.last}</h2>",
            _pager(env, latest.index, path),
            _timeline(env, latest, versions),
            "<h2>Events, newest first</h2>",
            _events(latest, path, versions),
        ]
    return document(
        f"Environment {env.name}",
        "\n".join(body),
        path,
        scripts=("site.js",),
        crumbs=(("index.html", "Home"), ("", env.name)),
    )


def _asof_form(env: Environment) -> str:
    return f"""<h2>What served at a moment</h2>
<noscript><p class="quiet">Picking a moment needs JavaScript; the timeline and the events below say the same.
Or run <code>git modelver asof WHEN --env {escape(env.name)}</code>.</p></noscript>
<form id="asof" class="controls needs-js" hidden>
<label for="asof-when">Moment (your local time)</label>
<input id="asof-when" type="datetime-local" step="1" required>
<button type="submit">Look up</button>
</form>
<div id="asof-answer" role="status"></div>
<script type="application/json" id="asof-data">{asof_data(env)}</script>"""


def render_window(env: Environment, window: Window, versions: Mapping[str, Version]) -> str:
    """An earlier window of events: its timeline and its events, unchanged once the window is full."""
    path = window_path(env.name, window.index)
    span = f"events {window.first}–{window.last}"
    body = [
        f"<h1>Environment {escape(env.name)}: {span}</h1>",
        _pager(env, window.index, path),
        _timeline(env, window, versions),
        "<h2>Events, newest first</h2>",
        _events(window, path, versions),
    ]
    crumbs = (("index.html", "Home"), (env_path(env.name), env.name), ("", span))
    return document(f"{env.name}: {span}", "\n".join(body), path, crumbs=crumbs)
