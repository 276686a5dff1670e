"""A report's own digest, which the report states.

Definition (every format): the digest ``sha256:<64 hex>`` is the SHA-256 of the report file's bytes in which
every occurrence of that digest is replaced by the placeholder ``sha256:`` followed by 64 zeros. A reader
recomputes it with nothing but the file: take the stated digest D, replace every D by the placeholder,
hash, compare with D (``check`` below, or ``sed`` and ``sha256sum`` as the README shows).
"""

from __future__ import annotations

import hashlib
import re

PLACEHOLDER = "sha256:" + "0" * 64
# How each format states it: JSON "report_digest": "…", Markdown "Report digest: `…`", HTML a meta tag.
_STATED = re.compile(rb"(?i)report[ _]digest[^\n]{0,40}?(sha256:[0-9a-f]{64})")


def stamp(text: str) -> tuple[str, str]:
    """``text`` holds the placeholder where the digest goes; returns the stamped text and the digest."""
    if PLACEHOLDER not in text:
        raise ValueError("the report has no digest placeholder")
    body = text.encode("utf-8")
    value = "sha256:" + hashlib.sha256(body).hexdigest()
    return text.replace(PLACEHOLDER, value), value


def check(data: bytes, stated: str) -> bool:
    """Whether ``data`` (a whole report file) hashes to the digest it states."""
    blanked = data.replace(stated.encode("ascii"), PLACEHOLDER.encode("ascii"))
    return blanked != data and "sha256:" + hashlib.sha256(blanked).hexdigest() == stated


def stated(data: bytes) -> str | None:
    """The digest a report states about itself, in any of the three formats."""
    match = _STATED.search(data)
    return match.group(1).decode("ascii") if match else None
