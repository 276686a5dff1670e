"""Released versions: the ``NAME@vX.Y.Z`` tags of a system, read through pygit2 without checkouts."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import pygit2

from gitmodelver import output
from gitmodelver.core.semver import InvalidVersion, Version, format_tag, parse_tag
from gitmodelver.errors import ModelverError, UnknownVersion
from gitmodelver.gitstore import tagmsg
from gitmodelver.gitstore.repo import Repo

TAG_PREFIX = "refs/tags/"
LOG = "; `git modelver log` lists the versions"  # what to do about a version that is not there


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
    """The release a tag object (or, for a lightweight tag, a commit) ``oid`` describes.

    None unless it leads to a commit: a version-named tag of a tree or a blob is no release, and must
    not break every command that lists versions.
    """
    try:
        obj = repo[oid]
    except (KeyError, ValueError):
        return None
    if isinstance(obj, pygit2.Tag):
        return _annotated(repo, tag, name, version, obj)
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


def _annotated(
    repo: pygit2.Repository, tag: str, name: str, version: Version, obj: pygit2.Tag
) -> Release | None:
    commit = tagged_commit(repo, obj)
    if commit is None:
        return None
    who = obj.tagger
    if who is None:  # rare: a tag without tagger; take the time from its commit
        tagged = repo[commit]
        assert isinstance(tagged, pygit2.Commit)
        who = pygit2.Signature("-", "-", tagged.commit_time, tagged.commit_time_offset)
    tagger = f"{who.name} <{who.email}>" if who.name != "-" else None
    return Release(
        tag, name, version, str(obj.id), str(commit), True, obj.message or "", tagger, who.time, who.offset
    )


def tagged_commit(repo: pygit2.Repository, tag: pygit2.Tag) -> pygit2.Oid | None:
    """The commit a tag object leads to; None for a tag of a tree or a blob, or of a missing object.

    A version tag names its commit directly, so the target's type is read from the object header alone
    (pygit2 >= 1.20): listing ten thousand versions must not read ten thousand commits. Only a tag of
    something else is peeled.
    """
    target = tag.target
    try:
        if _object_type(repo, target) == pygit2.enums.ObjectType.COMMIT:
            return target
        return tag.peel(pygit2.Commit).id
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _object_type(repo: pygit2.Repository, oid: pygit2.Oid) -> int:
    odb = repo.odb
    if hasattr(odb, "read_header"):
        return int(odb.read_header(oid)[0])
    return int(repo[oid].type)  # older pygit2: a full object read


_warned: set[str] = set()


def _ignore_build(tag: str) -> None:
    """A tag with build metadata would be a second tag of one version (``v1.2.0+evil`` beside ``v1.2.0``):
    no command believes it, and each says so once."""
    if tag not in _warned:
        _warned.add(tag)
        output.warn(
            f"warning: ignoring {tag}: a version tag with build metadata is no release "
            f"(remove it: git tag -d {tag})"
        )


def list_releases(repo: Repo, name: str) -> list[Release]:
    """Every version tag of the system, highest version first; other tags, and version tags with build
    metadata, are ignored."""
    prefix = f"{TAG_PREFIX}{name}@v"
    found = []
    for ref in repo.git.references.iterator():
        refname = ref.name
        if not refname.startswith(prefix):
            continue
        parsed = parse_tag(refname[len(TAG_PREFIX) :], name)
        if parsed is None:
            continue
        if parsed[1].build:
            _ignore_build(refname[len(TAG_PREFIX) :])
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


def previous_release(repo: Repo, release: Release, candidates: Iterable[Release]) -> Release | None:
    """The release ``release`` follows, derived from Git alone (never from its own trailers): the highest of
    ``candidates`` below it by SemVer precedence whose commit a parent of its commit contains."""
    try:
        parents = repo.commit(release.commit).parent_ids
    except ModelverError:
        return None
    below = sorted(
        (
            r
            for r in candidates
            if r.tag != release.tag
            and not r.version.build
            and r.version.precedence_key < release.version.precedence_key
        ),
        key=lambda r: r.version.precedence_key,
        reverse=True,
    )
    for candidate in below:
        try:
            oid = repo.commit(candidate.commit).id
        except ModelverError:
            continue
        if any(repo.is_ancestor(oid, parent) for parent in parents):
            return candidate
    return None


def last_release(repo: Repo, releases: list[Release], head: pygit2.Oid | None) -> Release | None:
    return next(iter_reachable(repo, releases, head), None)


def resolve(repo: Repo, arg: str, system_name: str | None = None) -> Release:
    """A version argument, in whichever system it names.

    A full tag ``NAME@vX.Y.Z`` carries its system, so it resolves whatever ``system_name`` says (a
    repository with several systems shares one ledger: any of them can be deployed from anywhere).
    ``vX.Y.Z``, ``X.Y.Z`` and digest prefixes are looked up among ``system_name``'s versions.
    """
    parsed = parse_tag(arg.strip())
    name = parsed[0] if parsed is not None else system_name
    if name is None:
        raise UnknownVersion(
            f"'{arg}' does not say which system it is a version of: give the full tag (NAME@vX.Y.Z), or "
            "pass --system"
        )
    releases = list_releases(repo, name)
    if not releases and name != system_name:
        raise UnknownVersion(f"'{arg}' is not a version of any system here: {name} has no releases{LOG}")
    if arg.strip() == "HEAD":
        return _at_head(repo, releases, name)
    return find(releases, name, arg)


def _at_head(repo: Repo, releases: list[Release], name: str) -> Release:
    """``HEAD`` as a version: the release HEAD contains, highest first (the one HEAD is, after a release)."""
    head = repo.head()
    found = last_release(repo, releases, head.id if head is not None else None)
    if found is None:
        raise UnknownVersion(f"HEAD contains no release of {name}{LOG}")
    return found


def find(releases: list[Release], name: str, arg: str) -> Release:
    """A version argument: ``NAME@vX.Y.Z``, ``vX.Y.Z``, ``X.Y.Z`` or a unique digest prefix."""
    text = arg.strip()
    if "@" in text:
        parsed = parse_tag(text)
        if parsed is None or parsed[0] != name:
            raise UnknownVersion(f"'{arg}' is not a version of {name}{near(releases, text)}{LOG}")
        text = str(parsed[1])
    try:
        wanted = Version.parse(text)
    except InvalidVersion:
        return _by_digest(releases, name, text)
    for release in releases:
        if release.version == wanted:
            return release
    raise UnknownVersion(f"unknown version {format_tag(name, wanted)}{near(releases, text)}{LOG}")


def near(releases: list[Release], text: str, most: int = 3) -> str:
    """`` (did you mean …?)`` naming the closest existing versions, or nothing.

    A prefix (``v1.0``) names the versions it starts, highest first (``v1.0.2, v1.0.1, v1.0.0``); any other
    text, the closest spellings (difflib, as unknown manifest keys are answered).
    """
    body = text.strip().rpartition("@")[2].removeprefix("v")
    ordered = sorted(releases, key=lambda r: r.version.precedence_key, reverse=True)
    shown = {str(r.version): r.tag for r in ordered}
    found = [v for v in shown if body and v.startswith(body) and v[len(body) : len(body) + 1] in ".-+"]
    if not found:
        found = difflib.get_close_matches(body, list(shown), n=most, cutoff=0.6)
    if not found:
        return ""
    return f" (did you mean {', '.join(shown[v] for v in found[:most])}?)"


def _by_digest(releases: list[Release], name: str, text: str) -> Release:
    prefix = text.removeprefix("sha256:").lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UnknownVersion(
            f"'{text}' is neither a version of {name} nor a digest prefix{near(releases, text)}{LOG}"
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
        raise UnknownVersion(f"no version of {name} has a digest starting with {prefix}{LOG}")
    raise UnknownVersion(f"digest prefix {prefix} is ambiguous: {', '.join(sorted(hits))}; give more digits")
