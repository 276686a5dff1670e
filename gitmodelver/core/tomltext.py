"""TOML text: read fast, with the tables a history repeats read once, and where each key is.

Reading (``plain_toml``): manifests are nearly always plain TOML, read here line by line with a few regular
expressions at many times tomllib's speed; anything else is left to tomllib. Each top-level table's text
is read once: a history's manifests differ in a line or two, so the same table text gives the same dict,
shared (``shared`` tells them), and what depends on a table alone is worked out once for it.

Positions (``line_index``, ``line_of``): ``tomllib`` gives values but no positions, and error messages need
lines. The skimmer is not a parser: it runs over a document tomllib has accepted and records where each
table header, key and array element starts, with regexes, so a manifest with 1,000 tables is indexed in a
few milliseconds. On text it does not understand it skips to the next line instead of raising.
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple, TypeVar

R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

# --------------------------------------------------------------------------- plain TOML, read fast
# `verify --all` reads every manifest ever released; tomllib, pure Python, reads a small one in a tenth of a
# millisecond, most of it in per-character calls. Manifests are nearly always plain: table headers, and one
# `key = value` per line with strings, integers, decimals, booleans, one-line arrays and inline tables of
# those, each line read here by one regular expression or a few. Anything else (escapes, multi-line values,
# dates, exponents, dotted keys, a table or key defined twice, ...) is left to tomllib, which also reports
# every error; so are documents `shape_problem` would refuse. What is read here is what tomllib reads.

# TOML integers are 64-bit; Python's are not.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

MAX_HEADER = 16  # table names this long are left to tomllib (which may nest too deep for MAX_DEPTH)

_WS = r"[ \t]*"
_KEY = r"[A-Za-z0-9_-]+"
_COMMENT = r"(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?"  # TOML allows no control character but tab in a comment
_PLAIN_BASIC = r'"[^"\\\x00-\x08\x0a-\x1f\x7f]*"'  # without escapes
_PLAIN_LITERAL = r"'[^'\x00-\x08\x0a-\x1f\x7f]*'"
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"  # no sign +, no _, no exponent, no leading zero

_BLANK = re.compile(rf"{_WS}{_COMMENT}")
_PLAIN_HEADER = re.compile(rf"{_WS}\[{_WS}({_KEY}(?:{_WS}\.{_WS}{_KEY})*){_WS}\]{_WS}{_COMMENT}")
_PAIR = re.compile(rf"{_WS}({_KEY}){_WS}={_WS}")
_END = re.compile(rf"{_WS}{_COMMENT}")
_PLAIN_SCALAR = re.compile(
    rf"{_PLAIN_BASIC}|{_PLAIN_LITERAL}|{_NUMBER}(?![0-9A-Za-z_.:+-])|true(?![\w-])|false(?![\w-])"
)
_SEPARATOR = re.compile(rf"{_WS},{_WS}")
_INLINE_KEY = re.compile(rf"({_KEY}){_WS}={_WS}")
_SPACE = re.compile(_WS)
_PLAIN_SCALAR_TEXT = rf"{_PLAIN_BASIC}|{_PLAIN_LITERAL}|{_NUMBER}|true|false"
# the usual line, in one match: `key = scalar`, maybe a comment
_PLAIN_LINE = re.compile(rf"{_WS}({_KEY}){_WS}={_WS}({_PLAIN_SCALAR_TEXT}){_WS}{_COMMENT}")


class _NotPlain(Exception):
    """Not in the subset: tomllib reads it."""


def plain_toml(text: str) -> dict[str, Any] | None:
    """What ``tomllib.loads(text)`` returns, when ``text`` is plain TOML; None when it is not.

    Each top-level table (its header and the headers below it, up to the next top-level table) is read
    from its text once and shared: never change what this returns.
    """
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        return None
    starts = _table_starts(text)
    root: dict[str, Any] = {}
    try:
        _read(root, text[: starts[0][0]] if starts else text)
        ends = [begin for begin, _ in starts[1:]] + [len(text)]
        for (begin, name), end in zip(starts, ends, strict=False):  # no table: no end either
            if name in root:  # a table split in two, or one over a key: tomllib's rules apply
                return None
            root[name] = _section(name, text[begin:end])
    except _NotPlain:
        return None
    return root


# A line opening a table, and the name of the top-level table it is in. What follows the name is read
# with the table's text (a line this takes for a header and is not one makes that text not plain).
_OPENING = re.compile(rf"^{_WS}\[{_WS}({_KEY})", re.MULTILINE)


def _table_starts(text: str) -> list[tuple[int, str]]:
    """Where each top-level table's text begins, with its name."""
    starts: list[tuple[int, str]] = []
    current = None
    for opening in _OPENING.finditer(text):
        name = opening.group(1)
        if name != current:
            starts.append((opening.start(), name))
            current = name
    return starts


# Top-level tables read, by their text; and the same tables by identity, for ``shared``. Emptied whole
# when full: a long history keeps re-reading only what it repeats.
SHARED_MAX = 4096
_SECTIONS: dict[str, dict[str, Any]] = {}
_SHARED: dict[int, dict[str, Any]] = {}


def _section(name: str, text: str) -> dict[str, Any]:
    table = _SECTIONS.get(text)
    if table is None:
        part: dict[str, Any] = {}
        _read(part, text)  # every header in ``text`` starts with ``name``: ``part`` holds it alone
        table = _SECTIONS[text] = part[name]
        _register(table)
    return table


def _register(table: dict[str, Any]) -> None:
    if len(_SHARED) >= SHARED_MAX:
        _SECTIONS.clear()
        _SHARED.clear()
    _SHARED[id(table)] = table


def share(data: dict[str, Any]) -> None:
    """Take the top-level tables of ``data``, read some other way (a cache of parsed manifests), as shared:
    whoever holds them promises never to change them, as for the tables read here."""
    for table in data.values():
        if type(table) is dict and not shared(table):
            _register(table)


def shared(value: Any) -> bool:
    """Whether ``value`` is a top-level table ``plain_toml`` shares: the same object for the same text,
    never changed, so anything computed from it alone can be kept by its identity."""
    return _SHARED.get(id(value)) is value


# (table, what else the answer depends on, the answer) by the table's identity, for ``kept``
Memo = dict[int, tuple[Any, Hashable, R]]


def kept(memo: Memo[R], table: Any, key: K, compute: Callable[[Any, K], R]) -> R:
    """``compute(table, key)``: for a shared table worked out once and kept in ``memo`` by the table's
    identity (the entry holds the table, so its id stays its own); for any other table computed afresh."""
    if not shared(table):
        return compute(table, key)
    found = memo.get(id(table))
    if found is not None and found[0] is table and found[1] == key:
        return found[2]
    value = compute(table, key)
    if len(memo) >= SHARED_MAX:
        memo.clear()
    memo[id(table)] = (table, key, value)
    return value


def _read(root: dict[str, Any], text: str) -> None:
    """Read ``text`` into ``root``; raises _NotPlain on anything outside the subset."""
    if not text:
        return
    table = root
    inline: set[int] = set()  # inline tables are complete: a header extending one is not plain
    for line in text.split("\n"):
        simple = _PLAIN_LINE.fullmatch(line)
        if simple is not None:
            _put(table, simple.group(1), _scalar(simple.group(2)))
            continue
        if _BLANK.fullmatch(line):
            continue
        header = _PLAIN_HEADER.fullmatch(line)
        if header is not None:
            table = _table(root, [k.strip(" \t") for k in header.group(1).split(".")], inline)
            continue
        pair = _PAIR.match(line)
        if pair is None:
            raise _NotPlain
        value, end = _value(line, pair.end())
        if not _END.fullmatch(line, end):
            raise _NotPlain
        _put(table, pair.group(1), value)
        if type(value) is dict:
            inline.add(id(value))


def _table(root: dict[str, Any], keys: list[str], inline: set[int]) -> dict[str, Any]:
    """The table a header opens, made along with the tables above it that do not exist yet."""
    if len(keys) > MAX_HEADER:
        raise _NotPlain
    table = root
    for key in keys[:-1]:
        table = table.setdefault(key, {})
        if type(table) is not dict or id(table) in inline:
            raise _NotPlain
    if keys[-1] in table:
        raise _NotPlain  # defined before, or made by a sub-table's header: tomllib's rules apply
    new: dict[str, Any] = {}
    table[keys[-1]] = new
    return new


def _put(table: dict[str, Any], key: str, value: Any) -> None:
    if key in table:
        raise _NotPlain
    table[key] = value


def _value(line: str, pos: int) -> tuple[Any, int]:
    scalar = _PLAIN_SCALAR.match(line, pos)
    if scalar is not None:
        return _scalar(scalar.group()), scalar.end()
    opening = line[pos : pos + 1]
    if opening == "[":
        return _array(line, pos + 1)
    if opening == "{":
        return _inline_table(line, pos + 1)
    raise _NotPlain


def _scalar(token: str) -> Any:
    first = token[0]
    if first == '"' or first == "'":
        return token[1:-1]
    if token == "true":
        return True
    if token == "false":
        return False
    if "." in token:
        number = float(token)
        if not math.isfinite(number):  # a decimal of hundreds of digits
            raise _NotPlain
        return number
    if len(token) > 20 or not _INT_MIN <= (number := int(token)) <= _INT_MAX:
        raise _NotPlain  # beyond 64 bits: tomllib reads it, validate says what is wrong
    return number


def _array(line: str, pos: int) -> tuple[list[Any], int]:
    """A one-line array of scalars (a trailing comma allowed), from just after its ``[``."""
    items: list[Any] = []
    pos = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
    while line[pos : pos + 1] != "]":
        scalar = _PLAIN_SCALAR.match(line, pos)
        if scalar is None:
            raise _NotPlain
        items.append(_scalar(scalar.group()))
        pos = _SPACE.match(line, scalar.end()).end()  # type: ignore[union-attr]
        comma = _SEPARATOR.match(line, pos)
        if comma is not None:
            pos = comma.end()
        elif line[pos : pos + 1] != "]":
            raise _NotPlain
    return items, pos + 1


def _inline_table(line: str, pos: int) -> tuple[dict[str, Any], int]:
    """A one-line inline table of scalars (no trailing comma: TOML has none), from just after its ``{``."""
    table: dict[str, Any] = {}
    pos = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
    if line[pos : pos + 1] == "}":
        return table, pos + 1
    while True:
        key = _INLINE_KEY.match(line, pos)
        scalar = _PLAIN_SCALAR.match(line, key.end()) if key is not None else None
        if key is None or scalar is None:
            raise _NotPlain
        _put(table, key.group(1), _scalar(scalar.group()))
        pos = _SPACE.match(line, scalar.end()).end()  # type: ignore[union-attr]
        comma = _SEPARATOR.match(line, pos)
        if comma is not None:
            pos = comma.end()
        elif line[pos : pos + 1] == "}":
            return table, pos + 1
        else:
            raise _NotPlain


# --------------------------------------------------------------------------- where things are

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
_REST_OF_LINE_RE = r"[^\n]*"
_HEADER_RE = rf"(\[\[?)[ \t]*({_DOTTED})[ \t]*\]\]?"
_KEY_EQ_RE = rf"({_DOTTED})[ \t]*=[ \t]*"
# A scalar: strings (multi-line ones first), a date-time whose time follows a space, or any bare token.
_SCALAR_RE = (
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
_FAST_RE = (
    rf"{_GAP_RE}(?:"
    rf"\[(?P<header>{_BARE}(?:\.{_BARE})*)\]"
    rf"|(?P<key>{_SEGMENT})[ \t]*=[ \t]*(?:"
    rf"{_SIMPLE}"
    rf"|(?P<inline>\{{[ \t]*(?:{_INLINE_PAIR}[ \t]*(?:,[ \t]*{_INLINE_PAIR}[ \t]*)*)?\}})"
    rf"|(?P<array>\[[ \t]*(?:{_SIMPLE}[ \t]*(?:,[ \t]*{_SIMPLE}[ \t]*)*,?[ \t]*)?\])"
    rf"))[ \t]*(?:#[^\n]*)?(?:\r?\n|\Z)"
)


class _Skim(NamedTuple):
    """The skimmer's expressions, compiled when a position is first asked for (error messages only):
    reading a manifest, which every hook does, never needs them."""

    gap: re.Pattern[str]
    rest_of_line: re.Pattern[str]
    segments: re.Pattern[str]
    header: re.Pattern[str]
    key_eq: re.Pattern[str]
    scalar: re.Pattern[str]
    fast: re.Pattern[str]
    inline_keys: re.Pattern[str]
    simple_values: re.Pattern[str]


@functools.cache
def _skim() -> _Skim:
    return _Skim(
        re.compile(_GAP_RE),
        re.compile(_REST_OF_LINE_RE),
        re.compile(_SEGMENT),
        re.compile(_HEADER_RE),
        re.compile(_KEY_EQ_RE),
        re.compile(_SCALAR_RE),
        re.compile(_FAST_RE),
        re.compile(rf"({_BARE})[ \t]*=[ \t]*{_SIMPLE}"),
        re.compile(_SIMPLE),
    )


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
        text, end, fast = self.text, len(self.text), _skim().fast.match
        pos = 0
        while pos < end:
            m = fast(text, pos)
            if m:
                self.fast_line(m)
                pos = m.end()
                continue
            pos = _after(_skim().gap, text, pos)
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
            for inner in _skim().inline_keys.findall(inline):
                self.explicit.setdefault((*key, inner), line)
        elif array is not None:
            for index in range(len(_skim().simple_values.findall(array))):
                self.explicit.setdefault((*key, index), line)

    def statement(self, pos: int) -> int:
        if self.text.startswith("[", pos):
            return self.header(pos)
        return self.key_value(pos, self.table, top=True)

    def header(self, pos: int) -> int:
        m = _skim().header.match(self.text, pos)
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
        m = _skim().key_eq.match(self.text, pos)
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
        return _after(_skim().scalar, self.text, pos)

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
                pos = max(_after(_skim().scalar, text, pos), pos + 1)
                continue
            elif char == "#":
                pos = _after(_skim().rest_of_line, text, pos)
                continue
            pos += 1
        return pos

    def inline_table(self, pos: int, key: Key) -> int:
        end = len(self.text)
        while pos < end:
            pos = _after(_skim().gap, self.text, pos)
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
            pos = _after(_skim().gap, self.text, pos)
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
        return _after(_skim().rest_of_line, self.text, pos)


def _after(pattern: re.Pattern[str], text: str, pos: int) -> int:
    m = pattern.match(text, pos)
    return m.end() if m else pos


def _names(dotted: str) -> list[str]:
    return [_unquote(seg) for seg in _skim().segments.findall(dotted)]


def _unquote(segment: str) -> str:
    if segment[0] == "'":
        return segment[1:-1]
    if segment[0] == '"':
        if "\\" not in segment:
            return segment[1:-1]
        # Escapes are rare in keys; let tomllib decode them exactly rather than re-implement TOML.
        import tomllib

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
