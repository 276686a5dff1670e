"""What the deployment commands share: resolving a version for the ledger, refusing unverified ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import release_system
from gitmodelver.core import evaluation
from gitmodelver.deploy import ledger, promotion
from gitmodelver.deploy.deployments import VersionRef
from gitmodelver.deploy.sync import RemoteLedger
from gitmodelver.errors import CheckFailed, ModelverError
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


def _release_data(repo: Repo, tag: str) -> tuple[versions.Release, System, dict[str, Any]] | None:
    """A recorded version's release, system and manifest; None when this clone cannot read it."""
    try:
        release = versions.resolve(repo, tag)
        sys_ = release_system(repo, release)
        return release, sys_, plan.released_data(repo, release, sys_)
    except ModelverError:
        return None


def promotion_rule(repo: Repo, book: ledger.Ledger, env: str, tag: str) -> promotion.Rule:
    """The rule ``tag`` must meet to serve in ``env``: its own manifest's and the serving version's,
    the stricter of both."""
    rule = promotion.Rule(env)
    serving = book.last(env) if env in book.envs() else None
    for source in dict.fromkeys(t for t in (tag, serving.get("stable") if serving else None) if t):
        found = _release_data(repo, str(source))
        if found is not None:
            rule = promotion.stricter(rule, promotion.rule_of(found[2], env, str(source)))
    return rule


def promotion_judgement(repo: Repo, book: ledger.Ledger, env: str, tag: str) -> promotion.Judgement:
    rule = promotion_rule(repo, book, env, tag)

    def evaluation_passed() -> bool:
        found = _release_data(repo, tag)
        if found is None:
            return False
        release, sys_, data = found
        tree = repo.commit_tree(repo.commit(release.commit), release.tag)
        assessed = evaluation.assess(tree, data, sys_.base, release.state or "")
        return assessed is not None and not assessed.problems and assessed.bound and not assessed.failed

    return promotion.judge(book, rule, tag, evaluation_passed)


def admit(
    repo: Repo, book: ledger.Ledger, env: str, tag: str, override: str | None, command: str
) -> dict[str, Any] | None:
    """Refuse a version the promotion rule of ``env`` does not admit (exit 1), unless ``override`` gives
    the reason it must go anyway: then the record the event carries of it."""
    found = promotion_judgement(repo, book, env, tag)
    if found.held:
        return None
    if override is None or not override.strip():
        raise promotion.refuse(found, env, command)
    output.warn(f"warning: {tag} goes to {env} past its promotion rule: {'; '.join(found.missing)}")
    return promotion.override_record(found, override.strip())


def with_override(
    build: Callable[[ledger.Event | None], dict[str, Any]], record: dict[str, Any] | None
) -> Callable[[ledger.Event | None], dict[str, Any]]:
    if record is None:
        return build

    def built(prev: ledger.Event | None) -> dict[str, Any]:
        return {**build(prev), "override": record}

    return built
