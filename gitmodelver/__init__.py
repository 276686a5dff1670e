"""gitmodelver: version whole AI systems in Git."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gitmodelver.deploy.router import Router
    from gitmodelver.dvc.loading import LoadedVersion, load

__all__ = ["LoadedVersion", "Router", "load"]

# Loaded on first use, so `import gitmodelver` (and every hook) stays light.
_LAZY = {
    "load": "gitmodelver.dvc.loading",
    "LoadedVersion": "gitmodelver.dvc.loading",
    "Router": "gitmodelver.deploy.router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gitmodelver' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
