"""Released versions: the ``NAME@vX.Y.Z`` tags of a system, read through pygit2 without checkouts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import pygit2

from gitmodelver import tagmsg
from gitmodelver.errors import UnknownVersion
from gitmodelver.repo import Repo
from gitmodelver.semver import InvalidVersion, Version, format_tag, parse_tag

TAG_PREFIX = "refs/tags/"


@dataclass(frozen=True)
class Release:
    tag: str
    name: str
    version: Version
    target: str  # the tag object id (or the commit for a lightweight tag)
    commit: str
    annotated: bool
    message: str = ""
    tagger: str | None = None
    time: int | None = None  # tagger time (unix), else the commit time
    offset: int = 0

    @cached_property
    def trailers(self) -> dict[str, str]:
        return tagmsg.parse_trailers(self.message) if self.message else {}

    @property
    def digest(self) -> str | None:
        return self.trailers.get("Modelver-Digest")

    @property
    def state(self) -> str | None:
        return self.trailers.get("Modelver-State")

    @property
    def bump(self) -> str | None:
        return self.trailers.get("Modelver-Bump")

    @property
    def previous(self) -> str | None:
        return self.trailers.get("Modelver-Previous")

    @property
    def signed(self) -> bool:
        return tagmsg.is_signed(self.message)


def release_from(
    repo: pygit2.Repository, tag: str, name: str, version: Version, oid: pygit2.Oid
) -> Release | None:
    """The release a tag object (or, for a lightweight tag, a commit) ``oid`` describes."""
    try:
        obj = repo[oid]
    except KeyError:
        return None
    if isinstance(obj, pygit2.Tag):
        who = obj.tagger
        if who is None:  # rare: a tag without tagger; take the time from its commit
            commit = obj.peel(pygit2.Commit)
            who = pygit2.Signature("-", "-", commit.commit_time, commit.commit_time_offset)
        # A version tag points straight at its commit; peeling every one would cost an object read.
        tagger = f"{who.name} <{who.email}>" if who.name != "-" else None
        return Release(
            tag,
            name,
            version,
            str(oid),
            str(obj.target),
            True,
            obj.message or "",
            tagger,
            who.time,
            who.offset,
        )
    if isinstance(obj, pygit2.Commit):
        return Release(
            tag,
            name,
            version,
            str(oid),
            str(obj.id),
            False,
            "",
            None,
            obj.commit_time,
            obj.commit_time_offset,
        )
    return None


def list_releases(repo: Repo, name: str) -> list[Release]:
    """Every version tag of the system, highest version first; other tags are ignored."""
    prefix = f"{TAG_PREFIX}{name}@v"
    found = []
    for ref in repo.git.references.iterator():
        refname = ref.name
        if not refname.startswith(prefix):
            continue
        parsed = parse_tag(refname[len(TAG_PREFIX) :], name)
        if parsed is None:
            continue
        release = release_from(
            repo.git, refname[len(TAG_PREFIX) :], name, parsed[1], pygit2.Oid(hex=str(ref.target))
        )
        if release is not None:
            found.append(release)
    found.sort(key=lambda r: r.version.precedence_key, reverse=True)
    return found


def iter_reachable(repo: Repo, releases: list[Release], head: pygit2.Oid | None) -> Iterator[Release]:
    """The releases whose commit HEAD contains, highest first; lazily, as callers rarely need many."""
    if head is None:
        return
    for release in releases:
        if repo.is_ancestor(repo.commit(release.commit).id, head):
            yield release


def last_release(repo: Repo, releases: list[Release], head: pygit2.Oid | None) -> Release | None:
    return next(iter_reachable(repo, releases, head), None)


def find(releases: list[Release], name: str, arg: str) -> Release:
    """A version argument: ``NAME@vX.Y.Z``, ``vX.Y.Z``, ``X.Y.Z`` or a unique digest prefix."""
    text = arg.strip()
    if "@" in text:
        parsed = parse_tag(text)
        if parsed is None or parsed[0] != name:
            raise UnknownVersion(f"'{arg}' is not a version of {name}", fix="run `git modelver log`")
        text = str(parsed[1])
    try:
        wanted = Version.parse(text)
    except InvalidVersion:
        return _by_digest(releases, name, text)
    for release in releases:
        if release.version == wanted:
            return release
    raise UnknownVersion(
        f"unknown version {format_tag(name, wanted)}", fix="run `git modelver log` to list versions"
    )


def _by_digest(releases: list[Release], name: str, text: str) -> Release:
    prefix = text.removeprefix("sha256:").lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UnknownVersion(
            f"'{text}' is neither a version of {name} nor a digest prefix",
            fix="run `git modelver log` to list versions",
        )
    hits = {
        r.tag: r
        for r in releases
        for d in (r.digest, r.state)
        if d and d.removeprefix("sha256:").startswith(prefix)
    }
    if len(hits) == 1:
        return next(iter(hits.values()))
    if not hits:
        raise UnknownVersion(
            f"no version of {name} has a digest starting with {prefix}",
            fix="run `git modelver log` to list versions",
        )
    raise UnknownVersion(
        f"digest prefix {prefix} is ambiguous: {', '.join(sorted(hits))}", fix="give more digits"
    )
