"""Version tags in a push: which ones a push carries, and whether a new one may land.

Shared by the client (``pre-push``, ``hook verify-tags``) and the server (``pre-receive``). Whether a
release is sound (digests, pins) is ``verify``'s question; what is specific to a push lives here: the ref
updates a push makes, the signature its manifest's policy demands, and that the new version's level is at
least what its diff demands (SPEC §3: a person may raise the level, never lower it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver import advice
from gitmodelver.core.diff import bump_level, diff, policy_overrides
from gitmodelver.core.manifest import FILENAME
from gitmodelver.core.semver import Version, parse_tag
from gitmodelver.core.validate import parse_toml
from gitmodelver.errors import CheckFailed, ManifestError, UsageError
from gitmodelver.gitstore import versions
from gitmodelver.gitstore.proc import first_error_line
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System, in_tree, manifest_paths, read_toml
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release

ZERO = "0" * 40
TAGS = "refs/tags/"
# A server's switch: demand signed version tags whatever the pushed manifest says.
SERVER_REQUIRE_SIGNED = "modelver.requireSigned"


@dataclass(frozen=True)
class RefUpdate:
    """One ref a push changes, as the receiving side sees it."""

    ref: str  # full name on the receiving side
    old: str  # ZERO: the ref does not exist there yet
    new: str  # ZERO: the push deletes it

    @property
    def created(self) -> bool:
        return self.old == ZERO and self.new != ZERO

    @property
    def deleted(self) -> bool:
        return self.new == ZERO

    @property
    def short(self) -> str:
        return self.ref.removeprefix(TAGS).removeprefix("refs/heads/")


@dataclass(frozen=True)
class Rejection:
    """Why one ref update may not land, and what to do instead."""

    ref: str  # short name, e.g. support-bot@v1.4.0 or modelver/ledger
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.ref}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


def parse_receive(text: str) -> list[RefUpdate]:
    """pre-receive's stdin: ``OLD NEW REF`` per line."""
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(RefUpdate(parts[2], parts[0], parts[1]))
    return updates


def parse_push(text: str) -> list[RefUpdate]:
    """pre-push's stdin: ``LOCAL_REF LOCAL_SHA REMOTE_REF REMOTE_SHA``, seen from the remote's side."""
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] != parts[3]:
            updates.append(RefUpdate(parts[2], parts[3], parts[1]))
    return updates


def version_tag(ref: str) -> tuple[str, Version] | None:
    """``(NAME, version)`` for a ``refs/tags/NAME@vX.Y.Z`` ref, else None."""
    return parse_tag(ref[len(TAGS) :]) if ref.startswith(TAGS) else None


def unpushed_tags(repo: Repo, remote: str) -> list[RefUpdate]:
    """Local version tags the remote lacks: what a push may carry when git did not say (pre-commit)."""
    there = _remote_tags(repo, remote)
    updates = []
    for ref in repo.git.references.iterator(pygit2.enums.ReferenceFilter.TAGS):
        if ref.name not in there and version_tag(ref.name) is not None:
            updates.append(RefUpdate(ref.name, ZERO, str(ref.target)))
    return updates


def _remote_tags(repo: Repo, remote: str) -> set[str]:
    listed = repo.run("ls-remote", "--tags", "--refs", remote, check=False)
    if listed.returncode != 0:
        raise CheckFailed(
            f"cannot read the version tags of Git remote '{remote}': {first_error_line(listed.err)}; "
            f"check its URL (`git remote -v`) and set the right one with `git remote set-url {remote}`"
        )
    return {line.split("\t", 1)[1] for line in listed.out.splitlines() if "\t" in line}


def tags_at_head(repo: Repo) -> list[RefUpdate]:
    """Version tags on HEAD's commit: what a person checks by hand before pushing a release."""
    head = repo.head()
    if head is None:
        return []
    updates = []
    for ref in repo.git.references.iterator(pygit2.enums.ReferenceFilter.TAGS):
        if version_tag(ref.name) is not None and ref.peel(pygit2.Commit).id == head.id:
            updates.append(RefUpdate(ref.name, ZERO, str(ref.target)))
    return updates


# --------------------------------------------------------------------------- checks of a new version


def release_of(repo: Repo, tag: str, oid: str) -> Release | None:
    """The release a tag object makes, read before (pre-receive) or without the ref existing."""
    parsed = parse_tag(tag)
    if parsed is None:
        return None
    return versions.release_from(repo.git, tag, parsed[0], parsed[1], pygit2.Oid(hex=oid))


def previous_final(
    repo: Repo,
    release: Release,
    pending: Iterable[Release] = (),
    refs: list[tuple[str, Version, str]] | None = None,
) -> Release | None:
    """The highest final version below ``release`` that its commit contains: what its level is from.

    ``pending``: the other version tags of the same push (not refs yet). Tag objects are read from the
    release down only until one is found, as verify does: a long history costs a sort of the refs.
    """
    head = pygit2.Oid(hex=release.commit)
    finals = (r for r in versions.below(repo, release, pending, refs) if not r.version.is_prerelease)
    return next(iter(versions.iter_reachable(repo, finals, head)), None)


def _commit_of(repo: Repo, release: Release) -> pygit2.Commit | None:
    try:
        return repo.git[pygit2.Oid(hex=release.commit)].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None  # a tag of a tree or a blob, or an object this repository lacks


def _released_data(repo: Repo, release: Release, system: System) -> dict[str, Any] | None:
    commit = _commit_of(repo, release)
    return (
        read_toml(CommitTree(repo.git, commit, release.tag).read(system.file)) if commit is not None else None
    )


def _unreadable(repo: Repo, tree: CommitTree, tag: str) -> list[Rejection]:
    """Why the manifests of a commit that cannot be read (so name no system) cannot be read."""
    found = []
    for file in manifest_paths(repo.git, tree.tree):
        raw = tree.read(file)
        if raw is None or read_toml(raw) is not None:
            continue
        try:
            parse_toml(raw.decode("utf-8"), f"{file}@{tag}")
        except UnicodeDecodeError:
            found.append(Rejection(tag, f"{file}@{tag} is not UTF-8"))
        except ManifestError as exc:
            found.append(Rejection(tag, exc.problems[0], fix=exc.fix))
    return found


def level_check(
    repo: Repo,
    release: Release,
    system: System,
    data: Mapping[str, Any],
    pending: Iterable[Release] = (),
    refs: list[tuple[str, Version, str]] | None = None,
) -> Rejection | None:
    previous = previous_final(repo, release, pending, refs)
    if previous is None:
        return None  # the first release: any version may start the series
    old = _released_data(repo, previous, system)
    required = bump_level(diff(old, data, policy_overrides(data)))
    if required is None:
        return None
    lowest = previous.version.bump(required)
    if release.version.core.precedence_key >= lowest.precedence_key:
        return None
    return Rejection(
        release.tag,
        f"the changes since {previous.tag} demand a {required} release (at least v{lowest}), "
        f"not v{release.version}",
        fix=rerelease_fix(release.tag, release.name),
    )


def rerelease_fix(tag: str, name: str) -> str:
    """Delete an unpushed version tag and release again: its commit stays, and `release` makes the
    version its changes demand (a higher one, which HEAD's manifest does not claim yet)."""
    return advice.chain(advice.command("git", "tag", "-d", tag), advice.modelver("release", system=name))


def check_new_version(
    repo: Repo, tag: str, oid: str, *, pending: Sequence[Release] = (), force_signed: bool = False
) -> list[Rejection]:
    """Every reason a new version tag ``tag`` at object ``oid`` may not be pushed.

    ``pending``: the other version tags of the same push, which are not refs yet on the receiving side.
    ``force_signed``: demand a signature whatever the manifest's policy says (a server's setting).
    """
    from gitmodelver.release.verify import verify_release  # not needed by pushes that carry no version tag

    release = release_of(repo, tag, oid)
    if release is None:
        return [Rejection(tag, f"{oid[:12]} does not point at a commit here (a tag of a tree or a blob?)")]
    commit = _commit_of(repo, release)
    if commit is None:
        return [Rejection(tag, f"{oid[:12]} does not point at a commit")]
    tree = CommitTree(repo.git, commit, tag)
    found = in_tree(repo, tree, release.name)
    if found is None:
        missing = Rejection(tag, f"its commit {release.commit[:12]} has no {FILENAME} for {release.name}")
        return [missing, *_unreadable(repo, tree, tag)]
    system, data = found
    known = {r.tag: r for r in pending if r.tag != tag}
    refs = versions.version_refs(repo, release.name)  # sorted once, for verify and for the level
    try:
        report = verify_release(repo, system, release, known=known, refs=refs)
    except UsageError as exc:  # bad input in this version (a DVC path leaving the repository): this tag only
        return [Rejection(tag, f"fails verify: {exc.message}", fix=exc.fix)]
    # verify judges the level the tag message claims against the release it names; Git's own history says
    # whether the version itself is too low, which releasing again repairs.
    # The objects themselves, as verify reads them: a guard does not take the versions index's word.
    level = level_check(repo, release, system, data, pending, refs)
    # What is wrong is in each detail; beyond a version too low, no one command repairs a failing check
    # (`git modelver verify TAG` shows them all, but changes nothing).
    problems = [
        Rejection(
            tag,
            f"fails verify ({c.name}): {c.detail}",
            fix=level.fix if c.name == "level" and level is not None else None,
        )
        for c in report.failures
    ]
    if force_signed and not release.signed:
        # No one command signs it: a new release of the same commit would be the same version, which
        # HEAD's manifest already claims, so `release` refuses it.
        problems.append(
            Rejection(
                tag,
                f"unsigned, but this repository demands signed versions ({SERVER_REQUIRE_SIGNED}): "
                f"re-create {tag} signed by a key the server trusts, on the same commit with the same "
                "message (`git tag -s -f`), or leave it out of the push and sign the next release",
            )
        )
    if level is not None and all(c.name not in ("level", "manifest") for c in report.failures):
        problems.append(level)  # a message naming no previous release (or an old one) passed verify
    return problems
