"""Text diffs as HTML: unified and side by side, the words that changed inside a changed line marked with
``<del>`` and ``<ins>``. Pure (difflib); every piece of text is escaped.

Both views are in the page; two radio buttons choose one through CSS alone, so the toggle works with
JavaScript off. ``compare.js`` draws the same markup in the browser for any two versions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape

CONTEXT = 3  # unchanged lines shown around each change
MAX_LINES = 20_000  # per side: past this a file is shown by its hash only
WORDS = re.compile(r"\w+|\s+|[^\w\s]")
SIMILAR = 0.3  # below this, a replaced line is another line, not the same one edited


@dataclass(frozen=True)
class Line:
    kind: str  # "ctx", "del" or "add"
    old: int | None  # line numbers, from 1
    new: int | None
    html: str  # escaped text, changed words inside <del>/<ins>


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: list[Line]
    pairs: list[tuple[Line | None, Line | None]]  # side by side: old and new on one row


@dataclass(frozen=True)
class TextDiff:
    hunks: list[Hunk]
    added: int
    removed: int


def words(old: str, new: str) -> tuple[str, str]:
    """Two versions of one line as HTML, the words only one of them has marked."""
    a, b = WORDS.findall(old), WORDS.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < SIMILAR:
        return escape(old), escape(new)
    left, right = [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        gone, came = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            left.append(gone)
            right.append(came)
            continue
        if gone:
            left.append(f"<del>{gone}</del>")
        if came:
            right.append(f"<ins>{came}</ins>")
    return "".join(left), "".join(right)


def diff(old: str, new: str, context: int = CONTEXT) -> TextDiff:
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks, added, removed = [], 0, 0
    for group in matcher.get_grouped_opcodes(context):
        lines: list[Line] = []
        pairs: list[tuple[Line | None, Line | None]] = []
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                for k in range(i2 - i1):
                    line = Line("ctx", i1 + k + 1, j1 + k + 1, escape(a[i1 + k]))
                    lines.append(line)
                    pairs.append((line, line))
                continue
            gone, came = _replaced(a[i1:i2], b[j1:j2], i1, j1)
            removed += len(gone)
            added += len(came)
            lines += gone + came
            pairs += [
                (gone[k] if k < len(gone) else None, came[k] if k < len(came) else None)
                for k in range(max(len(gone), len(came)))
            ]
        first, last = group[0], group[-1]
        header = f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        hunks.append(Hunk(header, lines, pairs))
    return TextDiff(hunks, added, removed)


def _replaced(a: Sequence[str], b: Sequence[str], i1: int, j1: int) -> tuple[list[Line], list[Line]]:
    """Removed and added lines; the ones facing each other get their changed words marked."""
    gone, came = [], []
    for k in range(max(len(a), len(b))):
        if k < len(a) and k < len(b):
            left, right = words(a[k], b[k])
        else:
            left = escape(a[k]) if k < len(a) else ""
            right = escape(b[k]) if k < len(b) else ""
        if k < len(a):
            gone.append(Line("del", i1 + k + 1, None, left))
        if k < len(b):
            came.append(Line("add", None, j1 + k + 1, right))
    return gone, came


def _range(start: int, end: int) -> str:
    """A hunk header's range, as ``diff -u`` writes it (start from 1, length; an empty side is 0,0)."""
    length = end - start
    if length == 0:
        return f"{start},0"
    return f"{start + 1}" if length == 1 else f"{start + 1},{length}"


# --------------------------------------------------------------------------- HTML

MARK = {"ctx": " ", "del": "-", "add": "+"}
SAID = {"ctx": "", "del": "removed: ", "add": "added: "}


def _num(value: int | None) -> str:
    return f'<td class="ln">{value}</td>' if value is not None else '<td class="ln"></td>'


def _code(line: Line) -> str:
    # The +/- is drawn for the eye and spoken for a screen reader, never copied into the text.
    return (
        f'<td class="code {line.kind}"><span class="mark" aria-hidden="true">{MARK[line.kind]}</span>'
        f'<span class="sr-only">{SAID[line.kind]}</span>{line.html}</td>'
    )


def unified(found: TextDiff) -> str:
    rows = []
    for hunk in found.hunks:
        rows.append(f'<tr class="hunk"><td colspan="3">{escape(hunk.header)}</td></tr>')
        rows += [f'<tr class="{ln.kind}">{_num(ln.old)}{_num(ln.new)}{_code(ln)}</tr>' for ln in hunk.lines]
    head = (
        '<thead class="sr-only"><tr><th scope="col">old line</th><th scope="col">new line</th>'
        '<th scope="col">text</th></tr></thead>'
    )
    return f'<table class="diff unified">{head}<tbody>{"".join(rows)}</tbody></table>'


def _side(line: Line | None, number: str) -> str:
    if line is None:
        return '<td class="ln"></td><td class="code none"></td>'
    return _num(line.old if number == "old" else line.new) + _code(line)


def split(found: TextDiff) -> str:
    rows = []
    for hunk in found.hunks:
        rows.append(f'<tr class="hunk"><td colspan="4">{escape(hunk.header)}</td></tr>')
        rows += [f"<tr>{_side(old, 'old')}{_side(new, 'new')}</tr>" for old, new in hunk.pairs]
    head = (
        '<thead class="sr-only"><tr><th scope="col">old line</th><th scope="col">old text</th>'
        '<th scope="col">new line</th><th scope="col">new text</th></tr></thead>'
    )
    return f'<table class="diff split">{head}<tbody>{"".join(rows)}</tbody></table>'


def views(found: TextDiff, ident: str) -> str:
    """Both views and the radio buttons that choose one (CSS does the choosing)."""
    return (
        f'<div class="views"><input type="radio" class="u" name="{ident}" id="{ident}-u" checked>'
        f'<label for="{ident}-u">Unified</label>'
        f'<input type="radio" class="s" name="{ident}" id="{ident}-s">'
        f'<label for="{ident}-s">Side by side</label>'
        f'<div class="scroll unified-view">{unified(found)}</div>'
        f'<div class="scroll split-view">{split(found)}</div></div>'
    )


def file_diff(title: str, old: str | None, new: str | None, ident: str, note: str = "") -> str:
    """One file's change: a heading with the count of lines added and removed, then the views."""
    if old is not None and new is not None and max(len(old.splitlines()), len(new.splitlines())) > MAX_LINES:
        old = new = None
        note = note or f"more than {MAX_LINES:,} lines: compare the files by hash"
    body = ""
    stat = ""
    if old is not None or new is not None:
        found = diff(old or "", new or "")
        stat = f' <span class="stat"><ins>+{found.added}</ins> <del>−{found.removed}</del></span>'
        body = views(found, ident) if found.hunks else '<p class="quiet">The text is the same.</p>'
    if note:
        body += f'<p class="quiet">{escape(note)}</p>'
    return f'<section class="file-diff" id="{ident}"><h4>{title}{stat}</h4>{body}</section>'


def lines_of(found: TextDiff, kind: str) -> Iterator[str]:
    """The escaped text of every line of one kind (for tests and summaries)."""
    for hunk in found.hunks:
        for line in hunk.lines:
            if line.kind == kind:
                yield line.html
