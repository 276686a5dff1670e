"""Remember manifests that passed the schema, by content, so status and hooks skip jsonschema next time.

The schema is the slow half of validation on big manifests (a thousand prompts); the path rules, which
depend on the file system, always run. Entries are keyed by the manifest text and the schema itself.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

FILE = "schema-valid"
KEEP = 32


@lru_cache(maxsize=1)
def _schema_hash() -> bytes:
    schema = Path(__file__).parent.parent / "schemas" / "manifest.schema.json"
    return hashlib.sha256(schema.read_bytes()).digest()


def _key(text: str) -> str:
    return hashlib.sha256(_schema_hash() + text.encode("utf-8")).hexdigest()


def _entries(folder: Path) -> list[str]:
    try:
        return (folder / FILE).read_text("ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def known_valid(folder: Path | None, text: str) -> bool:
    return folder is not None and _key(text) in _entries(folder)


def remember(folder: Path | None, text: str) -> None:
    if folder is None:
        return
    entries = [_key(text), *_entries(folder)][:KEEP]
    tmp = folder / f"{FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text("\n".join(entries) + "\n", "ascii")
        os.replace(tmp, folder / FILE)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only repository only loses the shortcut
