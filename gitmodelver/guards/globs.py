"""Paths in hooks: repository globs (``prompts/**/*.j2``) and paths relative to a manifest's folder."""

from __future__ import annotations

import functools
import re


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
    return re.compile("".join(out))


def relative_to(path: str, base: str) -> str | None:
    if not base:
        return path
    return path[len(base) + 1 :] if path.startswith(base + "/") else None
