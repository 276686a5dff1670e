"""The result of verification: named checks, and a version's report made of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gitmodelver.core.manifest import Manifest
    from gitmodelver.gitstore.tree import CommitTree
    from gitmodelver.gitstore.versions import Release


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class VersionReport:
    tag: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "ok": self.ok, "checks": [c.as_json() for c in self.checks]}


class ExtraChecks(Protocol):
    """Checks of a version beyond its Git objects, made once for a run (the DVC objects, say)."""

    def checks(self, release: Release, m: Manifest, tree: CommitTree) -> list[Check]: ...
