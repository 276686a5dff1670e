from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from gitmodelver.core.tomltext import Key, line_index, line_of

TRICKY = """\
# a comment with [brackets] and key = value
title = "top # not a comment"          # 2

[system]                                # 4
name = "support-bot"  # tag = [prefix]
"quoted.key" = 1                        # 6
'literal key' = 2
a.b."c.d" = 3                           # 8

[retrieval]                             # 10
index = { dvc = "indexes/faq.dvc", md5 = "x]y=z#" }
notes = \"\"\"
[not.a.header]
fake = "not a key"
\"\"\"
raw = '''
also = "not a key" ]
'''
steps = [                               # 19
  5,  # five
  "a = b",
  [1, 2],
  { path = "p.j2" },
]
when = 1979-05-27 07:32:00Z             # 25
nested = { deep = { x = 1 }, list = [ { y = 2 } ] }
empty = {}

[[sources]]                             # 29
kind = "web"
[[sources]]                             # 31
kind = "faq"
[sources.auth]                          # 33
token = "t"
[[sources.files]]                       # 35
path = "faq.md"

[ spaced . "header" ]                   # 38
k = "v"
[[ "quoted array" ]]                    # 40
k = 1
"""


def _flatten(value: Any, key: Key = ()) -> Iterator[Key]:
    """Every table, key and array element tomllib sees, as a line_index key."""
    if key:
        yield key
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from _flatten(inner, (*key, name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _flatten(inner, (*key, index))


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("system",), 4),
        (("system", "name"), 5),
        (("system", "quoted.key"), 6),
        (("system", "literal key"), 7),
        (("system", "a"), 8),
        (("system", "a", "b", "c.d"), 8),
        (("retrieval",), 10),
        (("retrieval", "index"), 11),
        (("retrieval", "index", "dvc"), 11),
        (("retrieval", "index", "md5"), 11),
        (("retrieval", "notes"), 12),
        (("retrieval", "raw"), 16),
        (("retrieval", "steps"), 19),
        (("retrieval", "steps", 0), 20),
        (("retrieval", "steps", 1), 21),
        (("retrieval", "steps", 2, 1), 22),
        (("retrieval", "steps", 3, "path"), 23),
        (("retrieval", "when"), 25),
        (("retrieval", "nested", "deep", "x"), 26),
        (("retrieval", "nested", "list", 0, "y"), 26),
        (("retrieval", "empty"), 27),
        (("sources",), 29),
        (("sources", 0), 29),
        (("sources", 0, "kind"), 30),
        (("sources", 1), 31),
        (("sources", 1, "kind"), 32),
        (("sources", 1, "auth"), 33),
        (("sources", 1, "auth", "token"), 34),
        (("sources", 1, "files", 0), 35),
        (("sources", 1, "files", 0, "path"), 36),
        (("spaced", "header"), 38),
        (("spaced", "header", "k"), 39),
        (("quoted array", 0, "k"), 41),
    ],
)
def test_tricky_lines(path: Key, line: int) -> None:
    assert line_index(TRICKY)[path] == line


@pytest.mark.parametrize(
    "not_a_key",
    [
        ("not", "a", "header"),
        ("retrieval", "not"),
        ("retrieval", "fake"),
        ("retrieval", "also"),
        ("retrieval", "a = b"),
        ("retrieval", "a"),
    ],
)
def test_text_inside_strings_and_arrays_is_not_a_key(not_a_key: Key) -> None:
    assert not_a_key not in line_index(TRICKY)


def test_every_key_tomllib_sees_is_indexed() -> None:
    index = line_index(TRICKY)
    missing = [key for key in _flatten(tomllib.loads(TRICKY)) if key not in index]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("retrieval", "index", "md5", "deeper"), 11),  # longest prefix that has a line
        (("retrieval", "missing"), 10),  # a key that is not there points at its table
        (("sources", 1, "kind"), 32),
        (("nowhere", "at", "all"), None),
        ((), None),
    ],
)
def test_line_of_falls_back_to_the_longest_prefix(path: Key, line: int | None) -> None:
    assert line_of(line_index(TRICKY), path) == line


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("[a]\r\nk = 1\r\n[b]\r\nj = 'x' # c\r\n", ("b", "j"), 4),  # CRLF line endings
        ('k = """one\ntwo"""\nj = 1\n', ("j",), 3),
        ('k = """ends with quotes"""""\nj = 1\n', ("j",), 2),
        ('k = "esc \\" [x] = y"\nj = 1\n', ("j",), 2),
        ('"k\\u0041" = 1\n', ("kA",), 1),
        ("[a.b]\n[a]\nk = 1\n", ("a",), 2),  # an explicit header beats the implicit parent
        ("[a.b]\nk = 1\n", ("a",), 1),  # an implicit parent maps to its first mention
        ("arr = [\n  # only a comment\n]\nk = 1\n", ("k",), 4),
        ("", ("k",), None),
        ("k = = broken\nj = 2\n", ("j",), 2),  # text it does not understand is skipped, never fatal
    ],
)
def test_small_documents(text: str, path: Key, line: int | None) -> None:
    assert line_of(line_index(text), path) == line


def test_a_thousand_tables() -> None:
    parts = ['[system]\nname = "big"\n']
    for i in range(1000):
        parts.append(f'[prompts.p{i}]  # prompt {i}\npath = "prompts/p{i}.j2"\nsha256 = "{"a" * 64}"\n\n')
    text = "".join(parts)
    index = line_index(text)  # speed is measured by bench/bench_status.py, not asserted here
    assert index[("prompts", "p999", "sha256")] == 3 + 999 * 4 + 2
