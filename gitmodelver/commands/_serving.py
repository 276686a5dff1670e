"""What the deployment commands share: resolving a version for the ledger, refusing unverified ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitmodelver import output
from gitmodelver.commands import release_system
from gitmodelver.deploy import ledger
from gitmodelver.deploy.deployments import VersionRef
from gitmodelver.deploy.sync import RemoteLedger
from gitmodelver.errors import CheckFailed
from gitmodelver.gitstore import versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.release import plan


def version_ref(repo: Repo, sys_: System | None, arg: str, *, check: bool = True) -> VersionRef:
    """A version as the ledger records it; with ``check``, one that fails `verify` is refused.

    The ledger is shared by every system here, so a full tag ``NAME@vX.Y.Z`` resolves in its own
    system whichever one ``sys_`` is; shorter forms are versions of ``sys_``.
    """
    release = versions.resolve(repo, arg, sys_.name if sys_ is not None else None)
    if sys_ is None or release.name != sys_.name:
        sys_ = release_system(repo, release)
    if check:
        from gitmodelver.release.verify import verify_release

        report = verify_release(repo, sys_, release)
        if not report.ok:
            first = report.failures[0]
            raise CheckFailed(
                f"{release.tag} fails verification ({first.name}: {first.detail}); "
                f"`git modelver verify {release.tag}` shows every check",
            )
    data = plan.released_data(repo, release, sys_)
    rollout: dict[str, Any] = data.get("rollout") if isinstance(data.get("rollout"), dict) else {}  # type: ignore[assignment]
    return VersionRef(release.tag, release.target, release.digest, release.state, rollout)


def record(
    book: ledger.Ledger | RemoteLedger,
    env: str,
    build: Callable[[ledger.Event | None], dict[str, Any]],
    message: str,
    as_json: bool,
    line: Callable[[ledger.Event], str],
) -> ledger.Event:
    """Append one event and report it: the event itself with --json, else one line for people."""
    event = book.append(env, build, message)
    if as_json:
        output.emit_json(event.data)
    else:
        output.say(line(event))
    return event
