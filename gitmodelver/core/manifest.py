"""The manifest ``modelver.toml``: read fast with tomllib, written with tomlkit so layout survives."""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodelver.core import schema_cache, validate
from gitmodelver.core.filerefs import FileRef, Tree, iter_file_refs
from gitmodelver.errors import ManifestError

FILENAME = "modelver.toml"


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]
    text: str
    file: str  # repo-relative path of the manifest
    refs: list[FileRef] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The manifest's folder, relative to the repository root ('' at the top)."""
        return posixpath.dirname(self.file)

    @property
    def name(self) -> str:
        return str(self.data["system"]["name"])

    @property
    def version(self) -> str | None:
        value = self.data["system"].get("version")
        return str(value) if value is not None else None

    @property
    def policy(self) -> Mapping[str, Any]:
        policy = self.data.get("policy")
        return policy if isinstance(policy, Mapping) else {}


def version_of(data: Any) -> str | None:
    """``system.version`` of parsed manifest data, read without validation."""
    system = data.get("system") if isinstance(data, dict) else None
    version = system.get("version") if isinstance(system, dict) else None
    return version if isinstance(version, str) else None


@functools.lru_cache(maxsize=16)
def parse(
    text: str, file: str, *, root: Path | None = None, trusted: bool = False, cache: Path | None = None
) -> Manifest:
    """Parse and validate; with ``root`` the path rules also check the working tree (symlinks).

    ``trusted`` skips the schema for manifests a release wrote (``verify`` re-checks those in full);
    it keeps status fast on systems with a thousand prompts. ``data`` is shared: never mutate it.
    """
    data = validate.parse_toml(text, file)
    if trusted and isinstance(data.get("system"), dict) and isinstance(data["system"].get("name"), str):
        return Manifest(data, text, file, list(iter_file_refs(data)))
    base = (root / posixpath.dirname(file)) if root is not None else None
    known = schema_cache.known_valid(cache, text)
    validate.check(data, text, file, root=root, base=base, schema_known_valid=known)
    if not known:
        schema_cache.remember(cache, text)
    return Manifest(data, text, file, list(iter_file_refs(data)))


def load_worktree(root: Path, file: str, cache: Path | None = None) -> Manifest:
    path = root / file
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(file, [f"{file}: no such file"], fix="git modelver init") from exc
    return parse(_decode(raw, file), file, root=root, cache=cache)


def load_tree(tree: Tree, file: str, *, trusted: bool = False) -> Manifest | None:
    raw = tree.read(file)
    if raw is None:
        return None
    return parse(_decode(raw, file), f"{file}@{tree.label}", trusted=trusted)


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(file, [f"{file}: not UTF-8 ({exc.reason} at byte {exc.start})"]) from exc


def edit(text: str, pins: Mapping[tuple[str, ...], Any], version: str | None = None) -> str:
    """Rewrite pins (and ``system.version``) keeping comments, order and inline tables intact."""
    import tomlkit

    doc = tomlkit.parse(text)
    for key, value in pins.items():
        table: Any = doc
        for name in key[:-1]:
            table = table[name]
        _set(table, key[-1], value)
    if version is not None:
        _set(doc["system"], "version", version)
    return _same_newlines(text, tomlkit.dumps(doc))


def _set(table: Any, key: str, value: Any) -> None:
    """``table[key] = value``; a new key goes right after the table's last key, not after the comments
    that end it (tomlkit counts a commented-out section below a table as part of that table)."""
    import tomlkit.items

    body = getattr(getattr(table, "value", None), "body", None)
    if key in table or not isinstance(table, tomlkit.items.Table) or body is None:
        table[key] = value
        return
    keys = [k for k, _ in body if k is not None]
    try:
        table.value._insert_after(keys[-1].key, key, value)  # noqa: SLF001 - no public way to place it
    except (IndexError, AttributeError, KeyError):
        table[key] = value


def _same_newlines(before: str, after: str) -> str:
    """tomlkit ends the lines it adds with LF; in a CRLF manifest they end with CRLF like the rest."""
    if before.count("\r\n") * 2 <= before.count("\n"):
        return after
    return re.sub(r"(?<!\r)\n", "\r\n", after)
