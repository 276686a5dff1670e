"""The commands a blocked commit prints as its fix: each one works as printed, from the repository's top."""

from __future__ import annotations

import posixpath

from gitmodelver import advice
from gitmodelver.guards.staged import Staged, StagedManifest


def system_name(m: StagedManifest) -> str | None:
    system = (m.data or {}).get("system")
    name = system.get("name") if isinstance(system, dict) else None
    return name if isinstance(name, str) else None


def _selector(st: Staged, m: StagedManifest) -> str | None:
    """The system to name with --system: only when there are several to choose from."""
    return system_name(m) if len(st.manifests) > 1 else None


def lock_fix(st: Staged, m: StagedManifest) -> str:
    """``git modelver lock`` for this manifest's system, then stage what it wrote."""
    return advice.chain(
        advice.modelver("lock", system=_selector(st, m)), advice.command("git", "add", m.file)
    )


def track_fix(st: Staged, m: StagedManifest, path: str) -> str:
    """``git modelver track`` a prompt file the manifest does not name (it writes the pin too), then stage
    both. ``track`` judges a file's kind by its name; a prompt named like a params file is said to be one."""
    name = posixpath.basename(path)
    kind = ("--as", "prompt") if name.startswith("params") or name.endswith(".dvc") else ()
    return advice.chain(
        advice.modelver("track", *kind, path, system=_selector(st, m)),
        advice.command("git", "add", m.file, path),
    )
