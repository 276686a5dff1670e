"""The change from one version to another, as a reader wants it: prompts as text diffs, DVC artifacts by
hash and size, other pinned files by hash, parameters and settings as old -> new, each with its semver
level; and the evaluation metrics side by side with their deltas. Pure: it works on ``facts``.

The compare page draws the same view in the browser (``static/compare.js``) for any two versions, from
the data file each version page has beside it (``data_file``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from gitmodelver import output
from gitmodelver.core.diff import Change, bump_level, diff, policy_overrides
from gitmodelver.core.semver import level_rank
from gitmodelver.site import textdiff
from gitmodelver.site.catalog import Catalog
from gitmodelver.site.facts import Artifact, Facts, TextFile, ref_path
from gitmodelver.site.page import Raw, cell, document, short, table

PIN_FIELDS = ("sha256", "md5", "path", "dvc")  # a file reference's own fields: shown with the file


@dataclass
class FileChange:
    ref: str  # the reference's place in the manifest (``prompts.system``)
    before: TextFile | Artifact | None
    after: TextFile | Artifact | None
    level: str | None = None


@dataclass
class Grouped:
    changes: list[Change]
    prompts: list[FileChange] = field(default_factory=list)
    artifacts: list[FileChange] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    values: list[Change] = field(default_factory=list)

    @property
    def level(self) -> str | None:
        return bump_level(self.changes)


def group(before: Facts | None, after: Facts) -> Grouped:
    changes = diff(before.data if before else None, after.data, policy_overrides(after.data))
    found = Grouped(changes)
    old = before or Facts("", None, None)
    owned: set[str] = set()
    for kind, target in (("prompts", found.prompts), ("artifacts", found.artifacts), ("files", found.files)):
        a, b = getattr(old, kind), getattr(after, kind)
        for dotted in [*b, *(k for k in a if k not in b)]:
            if a.get(dotted) == b.get(dotted):
                continue
            where = _where(dotted, before, after)
            mine = [c for c in changes if _owns(where, c.path)]
            owned |= {c.path for c in mine}
            level = max((c.level for c in mine), key=level_rank, default=None)
            target.append(FileChange(dotted, a.get(dotted), b.get(dotted), level))
    found.values = [c for c in changes if c.path not in owned]
    return found


def _where(dotted: str, *sides: Facts | None) -> str:
    for side in sides:
        if side is not None and side.manifest is not None:
            for ref in side.manifest.refs:
                if ref.dotted == dotted:
                    return ref_path(ref)
    return dotted


def _owns(ref: str, path: str) -> bool:
    """Whether a change belongs to a file reference: the table itself, or its path and pin."""
    return path == ref or any(path == f"{ref}.{name}" for name in PIN_FIELDS)


# --------------------------------------------------------------------------- HTML


def size(value: int | None) -> str:
    if value is None:
        return "–"
    return output.size(value)


def arrow(old: Raw | str, new: Raw | str) -> Raw:
    return Raw(f'{cell(old)} <span aria-label="becomes">→</span> {cell(new)}')


def level_badge(level: str | None) -> Raw:
    if not level:
        return Raw("–")
    return Raw(f'<span class="level {escape(level)}">{escape(level)}</span>')


def render(found: Grouped, ident: str = "d") -> str:
    """The change, section by section; nothing when nothing changed."""
    parts = []
    if found.prompts:
        parts.append("<h3>Prompts</h3>")
        parts += [_prompt(fc, f"{ident}-p{i}") for i, fc in enumerate(found.prompts)]
    if found.artifacts:
        parts += ["<h3>Weights and data (DVC)</h3>", _artifacts(found.artifacts)]
    if found.files:
        parts += ["<h3>Other files</h3>", _files(found.files)]
    if found.values:
        rows = ((c.path, c.old, c.new, level_badge(c.level)) for c in found.values)
        parts += [
            "<h3>Parameters and settings</h3>",
            table(("path", "old", "new", "level"), rows, cls="values"),
        ]
    if not parts:
        return '<p class="quiet">No component changed.</p>'
    return "\n".join(parts)


def _prompt(fc: FileChange, ident: str) -> str:
    a = fc.before if isinstance(fc.before, TextFile) else None
    b = fc.after if isinstance(fc.after, TextFile) else None
    paths = [p.path for p in (a, b) if p is not None]
    shown = paths[0] if len(set(paths)) == 1 else " → ".join(paths)
    state = "added" if a is None else "removed" if b is None else "changed"
    title = (
        f'<code>{escape(shown)}</code> <span class="quiet">{escape(fc.ref)}, {state}</span> '
        f"{level_badge(fc.level)}"
    )
    note = "; ".join(
        f"{side}: {f.note}" for side, f in (("before", a), ("after", b)) if f is not None and f.note
    )
    old = a.text if a is not None else ""
    new = b.text if b is not None else ""
    if (a is not None and a.text is None) or (b is not None and b.text is None):
        old = new = None
        note += f" (sha256 {short(a.sha256 if a else None)} → {short(b.sha256 if b else None)})"
    return textdiff.file_diff(title, old, new, ident, note.strip())


def _artifacts(changes: Sequence[FileChange]) -> str:
    def row(fc: FileChange) -> tuple[Any, ...]:
        a = fc.before if isinstance(fc.before, Artifact) else None
        b = fc.after if isinstance(fc.after, Artifact) else None
        path = (b or a).path if (b or a) is not None else "–"  # type: ignore[union-attr]
        md5 = arrow(short(_md5(a)), short(_md5(b)))
        sizes = arrow(size(a.size) if a else "–", size(b.size) if b else "–")
        notes = "; ".join(x.note for x in (a, b) if x is not None and x.note)
        return fc.ref, path, md5, sizes, level_badge(fc.level), notes or None

    rows = [row(fc) for fc in changes]
    return table(("reference", "path", "md5", "size", "level", "note"), rows, cls="artifacts")


def _md5(artifact: Artifact | None) -> str | None:
    return f"md5:{artifact.md5}" if artifact is not None and artifact.md5 else None


def _files(changes: Sequence[FileChange]) -> str:
    def row(fc: FileChange) -> tuple[Any, ...]:
        a = fc.before if isinstance(fc.before, TextFile) else None
        b = fc.after if isinstance(fc.after, TextFile) else None
        path = (b or a).path if (b or a) is not None else "–"  # type: ignore[union-attr]
        pins = arrow(short(_sha(a)), short(_sha(b)))
        return fc.ref, path, pins, level_badge(fc.level)

    return table(("reference", "path", "sha256", "level"), [row(fc) for fc in changes], cls="files")


def _sha(file: TextFile | None) -> str | None:
    return f"sha256:{file.sha256}" if file is not None and file.sha256 else None


def metrics_rows(before: Facts | None, after: Facts) -> list[tuple[Any, ...]]:
    """Each metric: value, the previous version's, the delta, and its gate on this version."""
    now = after.evaluation.metrics if after.evaluation else {}
    then = before.evaluation.metrics if before is not None and before.evaluation else {}
    gates = {g.metric: g for g in after.evaluation.gates} if after.evaluation else {}
    rows = []
    for name in [
        *now,
        *(k for k in then if k not in now),
        *(g for g in gates if g not in now and g not in then),
    ]:
        value, old = now.get(name), then.get(name)
        gate = gates.get(name)
        rows.append(
            (
                name,
                value,
                old,
                delta(old, value),
                gate.rule if gate else None,
                Raw(str(ok_gate(gate.ok))) if gate else None,
            )
        )
    return rows


def ok_gate(good: bool) -> Raw:
    return Raw('<span class="good">✓ pass</span>' if good else '<span class="bad">✗ fail</span>')


def delta(old: float | None, new: float | None) -> Raw | None:
    if old is None or new is None:
        return None
    change = new - old
    if change == 0:
        return Raw('<span class="quiet">0</span>')
    sign = "+" if change > 0 else "−"
    return Raw(f'<span class="delta">{sign}{abs(change):.4g}</span>')


# --------------------------------------------------------------------------- the compare page


def data_file(facts: Facts, tag: str, page: str) -> str:
    """A version's facts as a script that hands them to the compare page (loaded from ``file://`` too)."""
    m = facts.manifest
    doc = {
        "tag": tag,
        "page": page,
        "problem": facts.problem,
        "manifest": facts.data,
        "refs": [{"path": ref_path(r), "dotted": r.dotted, "kind": r.kind} for r in (m.refs if m else [])],
        "prompts": {k: _plain(v) for k, v in facts.prompts.items()},
        "artifacts": {k: _plain(v) for k, v in facts.artifacts.items()},
        "files": {k: _plain(v) for k, v in facts.files.items()},
        "metrics": facts.evaluation.metrics if facts.evaluation else {},
        "gates": {g.metric: {"rule": g.rule, "ok": g.ok} for g in facts.evaluation.gates}
        if facts.evaluation
        else {},
    }
    text = json.dumps(doc, ensure_ascii=False, default=str, separators=(",", ":"))
    # As a script: nothing in the text can end it early or read as markup if it is ever inlined.
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"(window.MODELVER_VERSIONS = window.MODELVER_VERSIONS || {{}})[{json.dumps(tag)}] = {text};\n"


def _plain(value: TextFile | Artifact) -> dict[str, Any]:
    return dict(value.__dict__)


def compare_page(cat: Catalog, path: str = "compare.html") -> str:
    groups = []
    for s in cat.systems:
        options = "".join(f'<option value="{escape(v.tag)}">{escape(v.tag)}</option>' for v in s.versions)
        groups.append(f'<optgroup label="{escape(s.name)}">{options}</optgroup>')
    choices = "".join(groups)
    body = f"""<h1>Compare two versions</h1>
<noscript><p class="note">Comparing any two versions is done in the browser and needs JavaScript.
Each version's page shows its change from the version before it without it.</p></noscript>
<form id="compare-form" class="controls needs-js" hidden>
<label for="cmp-a">From</label> <select id="cmp-a" name="a">{choices}</select>
<label for="cmp-b">To</label> <select id="cmp-b" name="b">{choices}</select>
<button type="submit">Compare</button>
</form>
<p id="compare-status" class="quiet" role="status"></p>
<div id="compare-result"></div>"""
    return document("Compare versions", body, path, scripts=("site.js", "compare.js"))
