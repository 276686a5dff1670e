"""The release tag message: a readable summary, then trailers ``git interpret-trailers`` can parse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gitmodelver.core.diff import Change

SIGNATURE_MARKERS = (
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN SSH SIGNATURE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
)
MAX_SUMMARY_LINES = 40


def show_value(value: Any, width: int = 8) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        if len(value) >= 32 and all(c in "0123456789abcdef.dir:sha256" for c in value):
            return value.split(":", 1)[-1][:width] + "…"
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def change_line(change: Change) -> str:
    if change.kind == "added":
        return f"{change.path}: added"
    if change.kind == "removed":
        return f"{change.path}: removed"
    return f"{change.path}: {show_value(change.old)} -> {show_value(change.new)}"


def compose(
    name: str,
    version: str,
    bump: str,
    changes: Iterable[Change],
    trailers: Mapping[str, str],
    message: str | None = None,
) -> str:
    lines = [f"{name} v{version} ({bump})", ""]
    if message:
        lines += [message.strip(), ""]
    body = [change_line(c) for c in changes]
    if len(body) > MAX_SUMMARY_LINES:
        body = [*body[:MAX_SUMMARY_LINES], f"… and {len(body) - MAX_SUMMARY_LINES} more changes"]
    if body:
        lines += [*body, ""]
    lines += [f"{key}: {value}" for key, value in trailers.items()]
    return "\n".join(lines) + "\n"


def strip_signature(message: str) -> str:
    cut = len(message)
    for marker in SIGNATURE_MARKERS:
        at = message.find(marker.decode())
        if at != -1:
            cut = min(cut, at)
    return message[:cut]


def is_signed(message: str) -> bool:
    return any(marker.decode() in message for marker in SIGNATURE_MARKERS)


_TRAILER = re.compile(r"^(Modelver-[A-Za-z-]+): *(.*?) *$", re.M)


def parse_trailers(message: str) -> dict[str, str]:
    """The trailers of the last paragraph (our keys only; the signature block is ignored)."""
    text = strip_signature(message).rstrip()
    paragraph = text[text.rfind("\n\n") + 1 :]  # one pass in C: log parses thousands of these
    return dict(_TRAILER.findall(paragraph))


def subject(message: str) -> str:
    return strip_signature(message).split("\n", 1)[0].strip()


def summary(message: str) -> str:
    """The first free-text line after the subject (the user's -m), else the first change line."""
    parts = message.split("\n\n", 3)  # subject, then the -m text or the first changes
    for part in parts[1:3]:
        line = part.strip().split("\n", 1)[0]
        if line and not line.startswith(("Modelver-", "-----BEGIN")):
            return line
    return ""
