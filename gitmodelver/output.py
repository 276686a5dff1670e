"""Printing: JSON for scripts (a stable interface), plain text for people."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def emit_json(value: Any) -> None:
    # Indented JSON goes through the pure-Python encoder; long lists (log of thousands) stay compact.
    indent = None if isinstance(value, list) and len(value) > 100 else 2
    sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=False, default=_default) + "\n")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def when(timestamp: int | None, offset_minutes: int = 0) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, _zone(offset_minutes)).isoformat()


@functools.lru_cache(maxsize=64)
def _zone(offset_minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=offset_minutes))
