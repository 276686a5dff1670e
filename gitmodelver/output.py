"""Printing: JSON for scripts (a stable interface), plain text for people."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

if TYPE_CHECKING:
    import datetime as dt

T = TypeVar("T")
_QUIET = [False, False]  # per command: [no progress bars (--quiet or --json), no progress lines (--quiet)]


def encode_default(value: Any) -> Any:
    """What JSON output makes of a value JSON has no type for (times as ISO 8601, the rest as text)."""
    import datetime as dt  # only when JSON meets a value it has no type for

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def emit_json(value: Any) -> None:
    # Indented JSON goes through the pure-Python encoder; long lists (log of thousands) stay compact.
    indent = None if isinstance(value, list) and len(value) > 100 else 2
    sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=False, default=encode_default) + "\n")


def size(n: int) -> str:
    """A size in bytes for people: ``812 B``, ``48.0 KiB``, ``1.2 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def when(timestamp: int | None, offset_minutes: int = 0) -> str | None:
    if timestamp is None:
        return None
    import datetime as dt  # the hooks print no times: they do not load it

    return dt.datetime.fromtimestamp(timestamp, _zone(offset_minutes)).isoformat()


@functools.lru_cache(maxsize=64)
def _zone(offset_minutes: int) -> dt.timezone:
    import datetime as dt

    return dt.timezone(dt.timedelta(minutes=offset_minutes))


class Watched:
    """stdout, noting whether a command wrote anything to it (its JSON, or part of it)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written = False

    def write(self, text: str) -> int:
        self.written = self.written or bool(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def watching_stdout() -> Iterator[Watched]:
    """Under ``--json`` stdout holds one document: the boundary adds an error object only when the command
    wrote nothing (``verify --json`` prints its report, then fails with exit 1: the report is the answer)."""
    watched = Watched(sys.stdout)
    sys.stdout = cast(TextIO, watched)
    try:
        yield watched
    finally:
        if sys.stdout is watched:
            sys.stdout = watched.stream


def quiet_progress(quiet: bool, *, json: bool = False) -> None:
    _QUIET[0] = quiet or json
    _QUIET[1] = quiet


def step(text: str) -> None:
    """A line of progress on stderr (bisect's steps, a log worth keeping in CI): left out under --quiet."""
    if not _QUIET[1]:
        sys.stderr.write(text + "\n")


def progress(items: Iterable[T], what: str, unit: str = "version") -> Iterable[T]:
    """``items``, with a progress bar on stderr (count, total, rate, time left) when stderr is a terminal
    and neither --quiet nor --json was given; otherwise ``items`` as they are, and nothing printed."""
    total = len(items) if isinstance(items, Sized) else None
    if _QUIET[0] or not sys.stderr.isatty() or (total is not None and total < 2):
        return items
    from tqdm import tqdm  # only on a terminal: tqdm is no cost to hooks and scripts

    return cast(Iterable[T], tqdm(items, desc=what, total=total, unit=unit, file=sys.stderr, leave=False))
