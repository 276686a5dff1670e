"""The ref update rules that make releases and the deployment ledger immutable once pushed.

``pre-receive`` on the server is the guarantee (hooks on a client can be skipped); ``pre-push`` applies
the same rules early so a person learns before the server refuses. A version tag is never deleted or
moved, a new one must verify (and be signed when its manifest's policy says so), and the ledger branch
only ever moves forward, by sound lines appended to its events files (``ledger_guard``; SPEC §7, §9).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pygit2

from gitmodelver import advice
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import Release
from gitmodelver.guards import ledger_guard, tagcheck
from gitmodelver.guards.tagcheck import RefUpdate, Rejection

LEDGER_REF = "refs/heads/modelver/ledger"
ATTESTATIONS_REF = "refs/heads/modelver/attestations"  # attest.statement.REF


def attach_quarantine(repo: Repo) -> None:
    """Let pygit2 read the objects of the push being received.

    During pre-receive git keeps the pushed objects in a quarantine directory named by
    GIT_OBJECT_DIRECTORY (with the real store in GIT_ALTERNATE_OBJECT_DIRECTORIES). Child ``git``
    processes inherit that, but libgit2 opened on the repository path does not look there.
    """
    for var in ("GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY"):
        path = os.environ.get(var)
        if path and os.path.isdir(path):
            repo.git.odb.add_disk_alternate(os.path.abspath(path))
            return


def _exists(repo: Repo, oid: str) -> bool:
    return pygit2.Oid(hex=oid) in repo.git.odb


def tag_rule(
    repo: Repo, update: RefUpdate, pending: Sequence[Release], force_signed: bool, remote: str | None = None
) -> list[Rejection]:
    """``remote``: where a push goes (known on a client), so a fix can fetch from it."""
    parsed = tagcheck.version_tag(update.ref)
    if parsed is not None and parsed[1].build:
        if update.deleted:
            return []  # removing such a tag is the cure
        name, version = parsed
        return [
            Rejection(
                update.short,
                "a version tag with build metadata is refused: one version, one tag "
                f"({name}@v{str(version).split('+')[0]} is that version)",
                fix=advice.command("git", "tag", "-d", update.short),
            )
        ]
    if update.deleted:
        return [
            Rejection(
                update.short,
                "deleting a version tag is refused: versions are permanent; release a new version that "
                "supersedes it instead",
            )
        ]
    if not update.created:
        return [_moved(update, remote)]
    return tagcheck.check_new_version(
        repo, update.short, update.new, pending=pending, force_signed=force_signed
    )


def _moved(update: RefUpdate, remote: str | None) -> Rejection:
    moved = f"moving a version tag is refused ({update.old[:12]} -> {update.new[:12]})"
    change = "release a new version for the change"
    if remote is None:  # on the server: which remote the pusher calls it is unknown here
        return Rejection(update.short, f"{moved}: fetch this remote's tag back with --force, and {change}")
    fetch = advice.command("git", "fetch", "--force", remote, "tag", update.short)
    return Rejection(update.short, f"{moved}: take back the tag the remote has, and {change}", fix=fetch)


def ledger_rule(repo: Repo, update: RefUpdate, updates: Sequence[RefUpdate] = ()) -> list[Rejection]:
    """The ledger only moves forward, and only by sound lines appended (``ledger_guard``).

    ``updates``: the whole push, whose new version tags count as existing for the events naming them.
    """
    instead = "; fetch the remote's modelver/ledger and record your events again on top of it"
    if update.deleted:
        return [Rejection(update.short, "deleting the deployment ledger is refused" + instead)]
    if not update.created and not _exists(repo, update.old):
        return []  # on a client, a remote state never fetched: nothing to compare with, the server judges
    if not update.created and not repo.is_ancestor(pygit2.Oid(hex=update.old), pygit2.Oid(hex=update.new)):
        return [
            Rejection(
                update.short,
                f"non-fast-forward update refused ({update.old[:12]} -> {update.new[:12]}): "
                "the ledger is append-only" + instead,
            )
        ]
    tags = {u.ref: u.new for u in updates if u.ref.startswith(tagcheck.TAGS) and not u.deleted}
    old = None if update.created else update.old  # a new ledger is judged from its first line
    found = ledger_guard.check(repo, old, update.new, tags)
    return [Rejection(update.short, f.message, fix=f.fix) for f in found]


def check_updates(
    repo: Repo, updates: Sequence[RefUpdate], *, force_signed: bool = False, remote: str | None = None
) -> list[Rejection]:
    """Every rejection for a push; a push lands only when this is empty. ``remote``: see ``tag_rule``."""
    new_tags = [u for u in updates if u.created and tagcheck.version_tag(u.ref) is not None]
    # Tags created by this same push count as earlier versions for each other's level check.
    pending = [
        r
        for u in new_tags
        if (r := tagcheck.release_of(repo, u.short, u.new)) is not None and not r.version.build
    ]
    problems: list[Rejection] = []
    for update in updates:
        if tagcheck.version_tag(update.ref) is not None:
            problems.extend(tag_rule(repo, update, pending, force_signed, remote))
        elif update.ref == LEDGER_REF:
            problems.extend(ledger_rule(repo, update, updates))
        elif update.ref == ATTESTATIONS_REF:
            problems.extend(attestations_rule(repo, update, updates))
    return problems


def attestations_rule(repo: Repo, update: RefUpdate, updates: Sequence[RefUpdate] = ()) -> list[Rejection]:
    """The attestations branch only gains signatures, each describing its version (``attest.guard``)."""
    from gitmodelver.attest import guard  # only pushes of that branch read it

    tags = {u.ref: u.new for u in updates if u.ref.startswith(tagcheck.TAGS) and not u.deleted}
    old = None if update.created else update.old
    found = guard.check(repo, old, update.new, update.deleted, tags)
    return [Rejection(update.short, f.message, fix=f.fix) for f in found]


def pre_receive(repo: Repo, stdin: str) -> list[Rejection]:
    attach_quarantine(repo)
    return check_updates(
        repo, tagcheck.parse_receive(stdin), force_signed=repo.config_bool(tagcheck.SERVER_REQUIRE_SIGNED)
    )


def pre_push(repo: Repo, stdin: str | None, remote: str | None) -> list[Rejection]:
    """The same rules before pushing. Without git's list of refs (under pre-commit, which does not pass
    it on) the candidates are the local version tags the remote does not have, and without a remote
    the version tags on HEAD."""
    if stdin is not None:
        updates = tagcheck.parse_push(stdin)
    elif remote:
        updates = tagcheck.unpushed_tags(repo, remote)
    else:
        updates = tagcheck.tags_at_head(repo)
    return check_updates(repo, updates, remote=remote)
