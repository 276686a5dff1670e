"""What the deployment commands share: resolving a version for the ledger, refusing unverified ones."""

from __future__ import annotations

from typing import Any

from gitmodelver import plan, versions
from gitmodelver.deployments import VersionRef
from gitmodelver.errors import CheckFailed
from gitmodelver.repo import Repo
from gitmodelver.system import System


def version_ref(repo: Repo, sys_: System, arg: str, *, check: bool = True) -> VersionRef:
    """A version as the ledger records it; with ``check``, one that fails `verify` is refused."""
    release = versions.find(versions.list_releases(repo, sys_.name), sys_.name, arg)
    if check:
        from gitmodelver.verify import verify_release

        report = verify_release(repo, sys_, release)
        if not report.ok:
            first = report.failures[0]
            raise CheckFailed(
                f"{release.tag} fails verification ({first.name}: {first.detail})",
                fix=f"run `git modelver verify {release.tag}`",
            )
    data = plan.released_data(repo, release, sys_)
    rollout: dict[str, Any] = data.get("rollout") if isinstance(data.get("rollout"), dict) else {}  # type: ignore[assignment]
    return VersionRef(release.tag, release.target, release.digest, release.state, rollout)
