"""State and version digests: SHA-256 over canonical JSON (SPEC §4). Pure functions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

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
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> bytes:
    try:
        text = json.dumps(
            _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:
        raise UsageError(
            "the manifest holds nan or inf, which has no canonical form; use a finite number"
        ) from exc
    return text.encode("utf-8")


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


def short(digest: str | None, length: int = 12) -> str:
    if not digest:
        return "-"
    return digest.split(":", 1)[-1][:length]
