"""Finding events by time without replaying them: binary searches over shards, then over a shard's lines.
Pure: no I/O.

Times never go backwards within an environment, and the ledger's ``at`` strings sort as the times do, so
the last event at or before a moment is in the last shard whose first event is at or before it, and there
it is the last line at or before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_AT = re.compile(rb'\{"at":"([^"]*)"')


def time_of(line: bytes) -> str:
    """The line's ``at``: found without parsing in what ``encode`` writes, parsed in any other order."""
    match = _AT.match(line)
    return match.group(1).decode() if match else str(json.loads(line)["at"])


def first_line(data: bytes) -> bytes:
    end = data.find(b"\n")
    return data if end == -1 else data[:end]


def last_line(data: bytes) -> bytes:
    body = data.rstrip(b"\n")
    return body[body.rfind(b"\n") + 1 :]


def last_starting_by(count: int, first_at: Callable[[int], str], when: str) -> int:
    """The index of the last of ``count`` shards whose first event is at or before ``when`` (-1: none).

    ``first_at(i)``: the first time of shard i, asked for about log2(count) shards only.
    """
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if first_at(mid) <= when:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _line_at(data: bytes, pos: int) -> tuple[int, int]:
    """The bounds of the line containing byte ``pos``."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return start, (len(data) if end == -1 else end)


def at_or_before(data: bytes, when: str) -> bytes | None:
    """The last line at or before ``when``: a binary search on byte offsets.

    ``data`` is a checked shard: every line an event, none empty, times never going backwards.
    """
    lo, hi = 0, len(data)  # both always at the start of a line
    best: tuple[int, int] | None = None
    while lo < hi:
        start, end = _line_at(data, (lo + hi) // 2)
        if time_of(data[start:end]) <= when:
            best = (start, end)
            lo = end + 1
        else:
            hi = start
    return data[best[0] : best[1]] if best is not None else None
