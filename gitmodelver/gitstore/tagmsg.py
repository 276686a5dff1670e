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
        return _one_line(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _one_line(text: str) -> str:
    """``text`` as it is, or JSON-quoted when it holds a line break or a control character: a value from
    a manifest must never start a line of the tag message (a forged trailer or signature block)."""
    if text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def change_line(change: Change) -> str:
    path = _one_line(change.path)
    if change.kind == "added":
        return f"{path}: added"
    if change.kind == "removed":
        return f"{path}: removed"
    return f"{path}: {show_value(change.old)} -> {show_value(change.new)}"


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


def signature_start(message: str) -> int:
    """Where the signature block starts (``len(message)`` when there is none), as git finds it: the last
    line that begins with a signature marker starts the block, which runs to the end of the object."""
    start = -1
    for marker in SIGNATURE_MARKERS:
        text = marker.decode()
        found = message.rfind("\n" + text)
        if found != -1:
            start = max(start, found + 1)
        elif message.startswith(text):
            start = max(start, 0)
    return start if start >= 0 else len(message)


def strip_signature(message: str) -> str:
    return message[: signature_start(message)]


def is_signed(message: str) -> bool:
    return signature_start(message) < len(message)


_TRAILER = re.compile(r"^(Modelver-[A-Za-z-]+): *(.*)$", re.MULTILINE)  # the value: trailing spaces go
_ANY_TRAILER = r"[A-Za-z0-9][A-Za-z0-9-]*: [^\n]*"
_TRAILER_BLOCK = re.compile(rf"{_ANY_TRAILER}(?:\n{_ANY_TRAILER})*")  # every line a trailer


def parse_trailers(message: str) -> dict[str, str]:
    """Our trailers, from the trailer block as ``git interpret-trailers`` finds it: the last paragraph of
    the message (the signature block removed), and only when every line of it is a trailer."""
    text = strip_signature(message).rstrip()
    paragraph = text[text.rfind("\n\n") + 2 :] if "\n\n" in text else ""
    if not _TRAILER_BLOCK.fullmatch(paragraph):
        return {}
    found: dict[str, str] = {}
    for match in _TRAILER.finditer(paragraph):
        found.setdefault(match.group(1), match.group(2).rstrip(" "))
    return found


def confusing_line(text: str) -> tuple[int, str] | None:
    """The first line of user text (``release -m``) that would read as a trailer or a signature block."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lower().startswith("modelver-") or any(
            line.startswith(m.decode()) for m in SIGNATURE_MARKERS
        ):
            return number, line
    return None


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
