"""``review [--base REF] [--format md|json|text]``: what the commits base..HEAD will release, formatted for
a pull request (Markdown for a comment or a CI job summary), for scripts (JSON), or for a terminal.

Exit 1 when a commit of the range fails the pre-commit checks or when ``release`` would refuse the state;
0 otherwise.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import open_system
from gitmodelver.gitstore.tagmsg import show_value
from gitmodelver.guards.review import Review, review

MAX_ROWS = 50  # per table; the rest is counted


def run(args: argparse.Namespace) -> int:
    repo, system = open_system(args)
    found = review(repo, system, args.base)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        output.emit_json(found.as_json())
    elif fmt == "md":
        output.say(markdown(found))
    else:
        output.say(text(found))
    return 0 if found.ok else 1


# --------------------------------------------------------------------------- Markdown


def _cell(value: Any) -> str:
    """One table cell: no line break, no column break, code where it is a value."""
    shown = value if isinstance(value, str) else show_value(value)
    return shown.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _code(value: Any) -> str:
    shown = _cell(value)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{ticks}{pad}{shown}{pad}{ticks}"


def _fence(lines: list[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=2)
    return "`" * max(3, longest + 1)


def _size(n: int | None) -> str:
    return "?" if n is None else output.size(n)


def _short(md5: str | None) -> str:
    return f"`{md5[:12]}`" if md5 else "(none)"


def _trim(rows: list[str], what: str) -> list[str]:
    if len(rows) <= MAX_ROWS:
        return rows
    return [*rows[:MAX_ROWS], f"| … | {len(rows) - MAX_ROWS} more {what} | |"]


def markdown(r: Review) -> str:
    title = (
        f"{r.system}: {r.last or 'no release yet'} → {r.next}"
        if r.next
        else f"{r.system}: nothing to release"
    )
    lines = [f"## {title}" + (f" ({r.level})" if r.level else ""), ""]
    lines.append(
        f"base `{r.base[:12]}` … head `{r.head[:12]}`" + (f" · compared with `{r.last}`" if r.last else "")
    )
    lines.append("")
    problems = len(r.refusals) + sum(1 for c in r.commits if c.problems)
    lines.append("**✅ ready to release**" if r.ok else f"**❌ {problems} problem(s)**: see below")
    lines.append("")
    if r.changes:
        lines += ["### Changes", "", "| component | change | level |", "|---|---|---|"]
        rows = [f"| {_code(c.path)} | {_change(c.old, c.new)} | {c.level} |" for c in r.changes]
        lines += [*_trim(rows, "changes"), ""]
    if r.parameters:
        lines += ["### Parameters", "", "| parameter | old | new |", "|---|---|---|"]
        rows = [f"| {_code(c.path)} | {_code(c.old)} | {_code(c.new)} |" for c in r.parameters]
        lines += [*_trim(rows, "parameters"), ""]
    if r.prompts:
        lines += ["### Prompts", ""]
        for t in r.prompts:
            summary = f"<code>{_html(t.path)}</code> ({_html(t.key)}, {t.status}): +{t.added} −{t.removed}"
            fence = _fence(t.diff)
            body = [*t.diff] + ([f"… {t.trimmed} more diff lines"] if t.trimmed else [])
            lines += [
                "<details>",
                f"<summary>{summary}</summary>",
                "",
                f"{fence}diff",
                *body,
                fence,
                "",
                "</details>",
                "",
            ]
    if r.weights:
        lines += ["### Weights", "", "| component | file | md5 | size |", "|---|---|---|---|"]
        rows = [
            f"| {_code(w.key)} | {_code(w.path)} | {_short(w.old_md5)} → {_short(w.new_md5)} | "
            f"{_size(w.old_size) if w.old_md5 else '-'} → {_size(w.new_size) if w.new_md5 else '-'} |"
            for w in r.weights
        ]
        lines += [*_trim(rows, "weights"), ""]
    if r.metrics:
        lines += ["### Evaluation", ""]
        if r.evaluation:
            lines += [f"Results: {_cell(r.evaluation)}", ""]
        lines += ["| metric | last release | now | Δ | gate |", "|---|---|---|---|---|"]
        rows = [
            f"| {_code(m.metric)} | {_num(m.old)} | {_num(m.new)} | {_num(m.delta, signed=True)} | "
            f"{_gate(m.gate, m.passed)} |"
            for m in r.metrics
        ]
        lines += [*_trim(rows, "metrics"), ""]
    if r.stale:
        lines += ["### Stale pipeline stages", "", *(f"- {_cell(s)}" for s in r.stale), ""]
    lines += ["### Commits", "", "| commit | subject | pre-commit checks |", "|---|---|---|"]
    rows = [
        f"| `{c.commit[:12]}` | {_cell(c.subject)} | "
        + ("✅" if not c.problems else "❌ " + "<br>".join(_cell(p) for p in c.problems))
        + " |"
        for c in r.commits
    ]
    lines += [*(_trim(rows, "commits") if rows else ["| | no commits in the range | |"]), ""]
    if r.refusals:
        lines += ["### What would stop the release", "", *(f"- {_cell(x)}" for x in r.refusals), ""]
    return "\n".join(lines).rstrip() + "\n"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _change(old: Any, new: Any) -> str:
    if old is None:
        return f"added {_code(new)}"
    if new is None:
        return f"removed (was {_code(old)})"
    return f"{_code(old)} → {_code(new)}"


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _gate(gate: str | None, passed: bool | None) -> str:
    if gate is None:
        return "-"
    return f"{_cell(gate.strip())} {'✅' if passed else '❌'}"


# --------------------------------------------------------------------------- text


def text(r: Review) -> str:
    head = f"{r.system}: last {r.last or '(none)'}; " + (
        f"next {r.next} ({r.level})" if r.next else "nothing to release"
    )
    lines = [head]
    lines += [f"  {c.level:<6} {c.path}: {show_value(c.old)} -> {show_value(c.new)}" for c in r.changes]
    for t in r.prompts:
        lines.append(f"prompt {t.path} ({t.key}, {t.status}): +{t.added} -{t.removed}")
        lines += [f"  {line}" for line in t.diff]
    for w in r.weights:
        lines.append(f"weights {w.key} ({w.path}): {w.old_md5 or '(none)'} -> {w.new_md5 or '(none)'}")
    for m in r.metrics:
        delta = _num(m.delta, signed=True)
        lines.append(f"metric {m.metric}: {_num(m.old)} -> {_num(m.new)} ({delta}) {m.gate or ''}".rstrip())
    lines += [f"stale stage: {s}" for s in r.stale]
    for c in r.commits:
        mark = "ok" if not c.problems else "FAIL"
        lines.append(f"commit {c.commit[:12]} {mark}: {c.subject}")
        lines += [f"  {p}" for p in c.problems]
    lines += [f"would stop the release: {x}" for x in r.refusals]
    return "\n".join(lines)
