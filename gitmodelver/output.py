"""Printing: JSON for scripts (a stable interface), plain text for people."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_default) + "\n")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def when(timestamp: int | None, offset_minutes: int = 0) -> str | None:
    if timestamp is None:
        return None
    tz = dt.timezone(dt.timedelta(minutes=offset_minutes))
    return dt.datetime.fromtimestamp(timestamp, tz).isoformat()
