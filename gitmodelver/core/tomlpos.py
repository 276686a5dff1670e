"""Where things are in a TOML file: 1-based line numbers for tables, keys and array items.

``tomllib`` gives values but no positions, and error messages need lines. This is not a parser: it
skims the document (tomllib has already accepted it) and records where each table header, key and
array element starts. Regexes do the scanning so a manifest with 1,000 tables is indexed in a few
milliseconds. On text it does not understand it skips to the next line instead of raising.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left
from collections.abc import Mapping

# Array-of-tables entries and array elements are addressed by their integer index.
Key = tuple[str | int, ...]
LineIndex = dict[Key, int]
# Values nested deeper than this many keys are skipped, not indexed: the skimmer recurses into inline
# tables and arrays, and the manifest's own depth limit (validate.MAX_DEPTH) is well below this.
DEEPEST = 64

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'  # unrolled: no per-character alternation
_LITERAL = r"'[^'\n]*'"
_SEGMENT = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_SEGMENT}(?:[ \t]*\.[ \t]*{_SEGMENT})*"

# Whitespace, newlines and comments between statements or array elements.
_GAP_RE = r"[ \t\r\n]*(?:#[^\n]*[ \t\r\n]*)*"
_GAP = re.compile(_GAP_RE)
_REST_OF_LINE = re.compile(r"[^\n]*")
_SEGMENTS = re.compile(_SEGMENT)
_HEADER = re.compile(rf"(\[\[?)[ \t]*({_DOTTED})[ \t]*\]\]?")
_KEY_EQ = re.compile(rf"({_DOTTED})[ \t]*=[ \t]*")
# A scalar: strings (multi-line ones first), a date-time whose time follows a space, or any bare token.
_SCALAR = re.compile(
    r'"""(?:\\.|[^\\])*?"{3,5}'
    r"|'''[\s\S]*?'{3,5}"
    rf"|{_BASIC}|{_LITERAL}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}[ Tt][0-9]{2}:[0-9:.]*(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
    r"|[^\s,\]\}#=\[\{]+"
)

# Fast path: most manifest lines are `[a.b]`, `key = scalar`, `key = { k = scalar, ... }` or
# `key = [scalar, ...]` on one line; one regex call handles such a line with the gap before it.
_SIMPLE = rf"(?:{_BASIC}|{_LITERAL}|[A-Za-z0-9_+.:-]+)"
_INLINE_PAIR = rf"{_BARE}[ \t]*=[ \t]*{_SIMPLE}"
_FAST = re.compile(
    rf"{_GAP_RE}(?:"
    rf"\[(?P<header>{_BARE}(?:\.{_BARE})*)\]"
    rf"|(?P<key>{_SEGMENT})[ \t]*=[ \t]*(?:"
    rf"{_SIMPLE}"
    rf"|(?P<inline>\{{[ \t]*(?:{_INLINE_PAIR}[ \t]*(?:,[ \t]*{_INLINE_PAIR}[ \t]*)*)?\}})"
    rf"|(?P<array>\[[ \t]*(?:{_SIMPLE}[ \t]*(?:,[ \t]*{_SIMPLE}[ \t]*)*,?[ \t]*)?\])"
    rf"))[ \t]*(?:#[^\n]*)?(?:\r?\n|\Z)"
)
_INLINE_KEYS = re.compile(rf"({_BARE})[ \t]*=[ \t]*{_SIMPLE}")
_SIMPLE_VALUES = re.compile(_SIMPLE)


class _Indexer:
    """One pass over the text; state is the current table and the array-of-tables counters."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.explicit: LineIndex = {}  # headers and keys, where a thing is defined
        self.implicit: LineIndex = {}  # parents created on the way, first mention wins
        self.table: Key = ()
        self.array_counts: dict[Key, int] = {}

    def line(self, pos: int) -> int:
        return bisect_left(self.newlines, pos) + 1

    def define(self, key: Key, line: int, known: int = 0) -> None:
        """Record ``key``; its first ``known`` elements name something already recorded."""
        self.explicit.setdefault(key, line)
        for n in range(known + 1, len(key)):
            self.implicit.setdefault(key[:n], line)

    def run(self) -> LineIndex:
        text, end, fast = self.text, len(self.text), _FAST.match
        pos = 0
        while pos < end:
            m = fast(text, pos)
            if m:
                self.fast_line(m)
                pos = m.end()
                continue
            pos = _after(_GAP, text, pos)
            if pos < end:
                pos = self.statement(pos)
        return {**self.implicit, **self.explicit}

    def fast_line(self, m: re.Match[str]) -> None:
        header, name, inline, array = m.group("header", "key", "inline", "array")
        if header is not None:
            self.table = self.resolve(header.split("."))
            self.define(self.table, bisect_left(self.newlines, m.start("header")) + 1)
            return
        key = (*self.table, _unquote(name))
        line = bisect_left(self.newlines, m.start("key")) + 1
        self.explicit.setdefault(key, line)  # its table is recorded already
        if inline is not None:
            for inner in _INLINE_KEYS.findall(inline):
                self.explicit.setdefault((*key, inner), line)
        elif array is not None:
            for index in range(len(_SIMPLE_VALUES.findall(array))):
                self.explicit.setdefault((*key, index), line)

    def statement(self, pos: int) -> int:
        if self.text.startswith("[", pos):
            return self.header(pos)
        return self.key_value(pos, self.table, top=True)

    def header(self, pos: int) -> int:
        m = _HEADER.match(self.text, pos)
        if not m:
            return self.skip_line(pos)
        names = _names(m.group(2))
        if m.group(1) == "[[":
            array = (*self.resolve(names[:-1]), names[-1])
            count = self.array_counts.get(array, 0)
            self.array_counts[array] = count + 1
            self.table = (*array, count)
        else:
            self.table = self.resolve(names)
        self.define(self.table, self.line(pos))
        return m.end()

    def resolve(self, names: list[str]) -> Key:
        """A header's path, with the current index after each array of tables it goes through."""
        key: Key = ()
        for name in names:
            key = (*key, name)
            count = self.array_counts.get(key)
            if count is not None:
                key = (*key, count - 1)
        return key

    def key_value(self, pos: int, table: Key, *, top: bool) -> int:
        m = _KEY_EQ.match(self.text, pos)
        if not m:
            return self.skip_line(pos) if top else pos + 1
        key = (*table, *_names(m.group(1)))
        self.define(key, self.line(pos), len(table))
        pos = self.value(m.end(), key)
        return self.skip_line(pos) if top else pos

    def value(self, pos: int, key: Key) -> int:
        """Skip one value, indexing what is inside inline tables and arrays; returns its end."""
        char = self.text[pos : pos + 1]
        if len(key) > DEEPEST and char in ("{", "["):
            return self.skip_nested(pos)
        if char == "{":
            return self.inline_table(pos + 1, key)
        if char == "[":
            return self.array(pos + 1, key)
        return _after(_SCALAR, self.text, pos)

    def skip_nested(self, pos: int) -> int:
        """Past an inline table or array without indexing it, and without recursion: this deep, only
        where its outer levels are matters (the manifest is refused for its depth)."""
        text, end, depth = self.text, len(self.text), 0
        while pos < end:
            char = text[pos]
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return pos + 1
            elif char in "\"'":
                pos = max(_after(_SCALAR, text, pos), pos + 1)
                continue
            elif char == "#":
                pos = _after(_REST_OF_LINE, text, pos)
                continue
            pos += 1
        return pos

    def inline_table(self, pos: int, key: Key) -> int:
        end = len(self.text)
        while pos < end:
            pos = _after(_GAP, self.text, pos)
            char = self.text[pos : pos + 1]
            if char == "}":
                return pos + 1
            if char == ",":
                pos += 1
                continue
            pos = self.key_value(pos, key, top=False)
        return pos

    def array(self, pos: int, key: Key) -> int:
        end, index = len(self.text), 0
        while pos < end:
            pos = _after(_GAP, self.text, pos)
            char = self.text[pos : pos + 1]
            if char == "]":
                return pos + 1
            if char == ",":
                pos += 1
                continue
            item = (*key, index)
            self.define(item, self.line(pos), len(key))
            pos, index = max(self.value(pos, item), pos + 1), index + 1
        return pos

    def skip_line(self, pos: int) -> int:
        """Past the rest of the line: trailing comments, or text this skimmer does not understand."""
        return _after(_REST_OF_LINE, self.text, pos)


def _after(pattern: re.Pattern[str], text: str, pos: int) -> int:
    m = pattern.match(text, pos)
    return m.end() if m else pos


def _names(dotted: str) -> list[str]:
    return [_unquote(seg) for seg in _SEGMENTS.findall(dotted)]


def _unquote(segment: str) -> str:
    if segment[0] == "'":
        return segment[1:-1]
    if segment[0] == '"':
        if "\\" not in segment:
            return segment[1:-1]
        # Escapes are rare in keys; let tomllib decode them exactly rather than re-implement TOML.
        try:
            return str(tomllib.loads(f"k = {segment}")["k"])
        except tomllib.TOMLDecodeError:  # an invalid escape: keep the raw text, never raise
            return segment[1:-1]
    return segment


def line_index(text: str) -> LineIndex:
    """The 1-based line where each table, key and array element of a TOML document is defined.

    Keys are paths: ``("retrieval", "index", "dvc")``; arrays of tables and array elements use the
    integer index (``("rollout", "steps", 2)``, ``("sources", 0, "path")``). A parent that is only
    created implicitly (``[a.b]`` creates ``a``) maps to the line where it is first mentioned.
    """
    return _Indexer(text).run()


def line_of(index: Mapping[Key, int], path: tuple[str | int, ...]) -> int | None:
    """The line of the longest prefix of ``path`` that has one, so errors inside a table point at it."""
    for n in range(len(path), 0, -1):
        line = index.get(path[:n])
        if line is not None:
            return line
    return None
