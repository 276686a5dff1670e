"""The versions index: what was once learned from Git objects, remembered by their ids under
``.git/modelver/index/``, so the next command does not learn it again.

Each section is one JSON file: ``{"format": "gitmodelver-index", "section": NAME, "scope": SCOPE,
"entries": {OBJECT_ID: VALUE}}``. An entry is keyed only by a Git object id, whose content can never change;
``scope`` names everything else a value depends on (the parser's version, the trust settings, the schema),
and a file of another scope is dropped whole. Nothing here is trusted over Git: a reader looks an entry up
by the id of the object it has in hand, so an entry for an object that is gone, or was never there, is
never consulted. A missing, truncated, corrupt or foreign file is treated as empty and rewritten on the next
save; every save is a whole-file atomic replace, so concurrent writers can lose each other's additions (a
later command learns them again) but never leave a file half-written. A repository we cannot write to only
loses the shortcut.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitmodelver.gitstore.fsutil import atomic_write
from gitmodelver.gitstore.repo import Repo

FORMAT = "gitmodelver-index"
FOLDER = "index"
HEX = frozenset("0123456789abcdef")


def folder(repo: Repo) -> Path | None:
    """``.git/modelver/index``, made if needed; None for a repository we must not or cannot write to."""
    if repo.bare:
        return None  # a server's repository is only read
    try:
        path = repo.state_dir() / FOLDER
        path.mkdir(exist_ok=True)
    except OSError:
        return None
    return path


def is_object_id(key: object) -> bool:
    return isinstance(key, str) and len(key) in (40, 64) and HEX.issuperset(key)


class Section:
    """One file of the index: object id -> what was learned from that object, under one ``scope``."""

    def __init__(self, repo: Repo, name: str, scope: str = "") -> None:
        self.name = name
        self.scope = scope
        base = folder(repo)
        self.path = base / f"{name}.json" if base is not None else None
        self.entries: dict[str, Any] = self._read()
        self._added: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            doc = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}  # none yet, truncated, or not JSON: rebuilt from Git
        if (
            not isinstance(doc, dict)
            or doc.get("format") != FORMAT
            or doc.get("section") != self.name
            or doc.get("scope") != self.scope
            or not isinstance(doc.get("entries"), dict)
        ):
            return {}  # another program's file, another version of ours, or other trust settings
        return doc["entries"]

    def get(self, oid: str) -> Any:
        return self.entries.get(oid)

    def put(self, oid: str, value: Any) -> None:
        if not is_object_id(oid):
            raise ValueError(f"index keys are object ids, not {oid!r}")
        if self.entries.get(oid) != value:
            self.entries[oid] = value
            self._added[oid] = value

    @property
    def added(self) -> Mapping[str, Any]:
        """What was put since the file was read or last saved."""
        return self._added

    def update(self, values: Mapping[str, Any]) -> None:
        for oid, value in values.items():
            self.put(oid, value)

    def save(self) -> None:
        """Write what was learned, merged with what other processes wrote meanwhile; no-op if nothing."""
        if self.path is None or not self._added:
            return
        entries = {**self._read(), **self._added}
        doc = {"format": FORMAT, "section": self.name, "scope": self.scope, "entries": entries}
        try:
            atomic_write(self.path, json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
        except OSError:
            return  # read-only: only slower next time
        self.entries = entries
        self._added = {}
