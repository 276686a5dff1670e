"""State and version digests: SHA-256 over canonical JSON (SPEC §4). Pure functions."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gitmodelver.core import tomltext
from gitmodelver.core.filerefs import NON_COMPONENTS
from gitmodelver.errors import UsageError

EXCLUDED_FROM_STATE = NON_COMPONENTS | {"evaluation"}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """TOML values as JSON values; dates and times become ISO 8601 strings."""
    kind = type(value)
    if kind in _SCALARS:  # most leaves: no abstract-class check (a manifest has thousands of them)
        return value
    if kind is dict or isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    import datetime as dt  # TOML dates are rare: not loaded for manifests without them

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> bytes:
    try:
        if type(value) is dict and all(type(k) is str for k in value):
            # a manifest (or a view of one): its tables one by one, each shared table written once
            text = "{" + ",".join(f"{_key_json(k)}:{_table_json(value[k])}" for k in sorted(value)) + "}"
        else:
            text = _dumps(_plain(value))
    except ValueError as exc:
        raise UsageError(
            "the manifest holds nan or inf, which has no canonical form; use a finite number"
        ) from exc
    return text.encode("utf-8")


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@functools.lru_cache(maxsize=1024)  # a manifest's top-level names: a few, in every manifest
def _key_json(key: str) -> str:
    return _dumps(key)


_TABLES: tomltext.Memo[str] = {}


def _table_json(table: Any) -> str:
    """One top-level value as canonical JSON: what it is inside the whole document's canonical JSON."""
    return tomltext.kept(_TABLES, table, None, lambda t, _: _dumps(_plain(t)))


def sha256_digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def state_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the manifest that names behaviour: components, without evaluation."""
    return {k: v for k, v in data.items() if k not in EXCLUDED_FROM_STATE}


def version_view(data: Mapping[str, Any]) -> dict[str, Any]:
    view = dict(data)
    system = view.get("system")
    if isinstance(system, Mapping):
        view["system"] = {k: v for k, v in system.items() if k != "version"}
    return view


def state_digest(data: Mapping[str, Any]) -> str:
    """Digest of the behaviour; ``data`` must already have its pins filled in."""
    return sha256_digest(state_view(data))


def version_digest(data: Mapping[str, Any]) -> str:
    return sha256_digest(version_view(data))


def digests(data: Mapping[str, Any]) -> tuple[str, str]:
    """``(version_digest(data), state_digest(data))``, the tables' JSON shared by the two (``verify``
    computes both for every version)."""
    if type(data) is not dict or not all(type(k) is str for k in data):
        return version_digest(data), state_digest(data)
    version = version_view(data)
    try:
        keyed = [(k, f"{_key_json(k)}:{_table_json(version[k])}") for k in sorted(version)]
    except ValueError as exc:
        raise UsageError(
            "the manifest holds nan or inf, which has no canonical form; use a finite number"
        ) from exc
    whole = "{" + ",".join(text for _, text in keyed) + "}"
    state = "{" + ",".join(text for k, text in keyed if k not in EXCLUDED_FROM_STATE) + "}"
    return _sha256(whole), _sha256(state)


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def short(digest: str | None, length: int = 12) -> str:
    if not digest:
        return "-"
    return digest.split(":", 1)[-1][:length]
