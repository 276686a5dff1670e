"""Paths in hooks: repository globs (``prompts/**/*.j2``) and paths relative to a manifest's folder."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitmodelver.core.filerefs import Tree, follow, iter_file_refs, join


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A ``prompt_globs`` pattern: ``**`` spans folders, ``*`` and ``?`` stay inside one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)  # a file name may hold a newline: `**` spans it too


def relative_to(path: str, base: str) -> str | None:
    if not base:
        return path
    return path[len(base) + 1 :] if path.startswith(base + "/") else None


def prompt_patterns(policy: Mapping[str, Any]) -> list[re.Pattern[str]]:
    """``policy.prompt_globs`` as patterns (relative to the manifest's folder); entries that are not
    strings are the schema's to report."""
    globs = policy.get("prompt_globs")
    if not isinstance(globs, list):
        return []
    return [glob_regex(g.strip("/")) for g in globs if isinstance(g, str) and g.strip("/")]


def matches(patterns: Sequence[re.Pattern[str]], path: str, base: str) -> bool:
    rel = relative_to(path, base)
    return rel is not None and any(p.fullmatch(rel) for p in patterns)


def unnamed(
    paths: Iterable[str],
    data: Mapping[str, Any],
    file: str,
    base: str,
    tree: Tree,
    patterns: Sequence[re.Pattern[str]],
) -> list[str]:
    """The ``paths`` that match ``patterns`` but that no reference of the manifest ``data`` names: prompts
    the manifest does not know. What a symlinked prompt leads to is named through it."""
    if not patterns:
        return []
    named = {join(base, r.target) for r in iter_file_refs(data)}
    named |= {follow(tree, path).path for path in named}
    return [p for p in paths if p not in named and p != file and matches(patterns, p, base)]
