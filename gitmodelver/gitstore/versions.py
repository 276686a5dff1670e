"""Released versions: the ``NAME@vX.Y.Z`` tags of a system, read through pygit2 without checkouts."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import pygit2

from gitmodelver import output
from gitmodelver.core import semver
from gitmodelver.core.semver import InvalidVersion, Version, format_tag, parse_tag
from gitmodelver.errors import UnknownVersion
from gitmodelver.gitstore import index, tagmsg
from gitmodelver.gitstore.repo import Repo

TAG_PREFIX = "refs/tags/"
LOG = "; `git modelver log` lists the versions"  # what to do about a version that is not there


class TagFacts(NamedTuple):
    """What a tag object says that listing versions needs, learned once per object (the versions index).

    A tuple, stored as a JSON list: ten thousand of them are read at every ``log``.
    """

    commit: str
    tagger: str | None
    time: int
    offset: int
    signature: str | None  # "ssh", "openpgp", "x509", or None when unsigned
    summary: str
    trailers: dict[str, str]

    def as_json(self) -> list[Any]:
        return list(self)

    @classmethod
    def from_json(cls, value: Any) -> TagFacts | None:
        """The facts an index entry holds, or None for an entry of any other shape (then read the tag)."""
        if type(value) is not list or tuple(map(type, value)) not in _SHAPES:
            return None
        if value[4] not in SIGNATURE_FORMATS or not _TEXT_ONLY.issuperset(map(type, value[6].values())):
            return None  # JSON keys are always text; the values must be too
        return cls._make(value)


_TEXT_ONLY = frozenset({str})
_SHAPES = frozenset(
    (str, tagger, int, int, signature, str, dict)
    for tagger in (str, type(None))
    for signature in (str, type(None))
)


SIGNATURE_FORMATS = (None, "ssh", "openpgp", "x509")


@dataclass(frozen=True)
class Release:
    tag: str
    name: str
    version: Version
    target: str  # the tag object id (or the commit for a lightweight tag)
    commit: str
    annotated: bool
    raw_message: str | None = ""  # None: not read yet (listed from the index); ``message`` reads it
    tagger: str | None = None
    time: int | None = None  # tagger time (unix), else the commit time
    offset: int = 0
    facts: TagFacts | None = field(default=None, compare=False, repr=False)
    source: pygit2.Repository | None = field(default=None, compare=False, repr=False)
    named: str | None = field(default=None, compare=False, repr=False)  # the tag object's own name, when read

    @cached_property
    def message(self) -> str:
        """The tag message, signature block included ("" for a lightweight tag)."""
        if self.raw_message is not None:
            return self.raw_message
        obj = self.source[self.target] if self.source is not None else None
        return (obj.message or "") if isinstance(obj, pygit2.Tag) else ""

    @property
    def trailers(self) -> dict[str, str]:
        """Our trailers (``Modelver-*``), as the tag message's trailer block has them; read-only."""
        return self.facts.trailers if self.facts is not None else self._parsed_trailers

    @cached_property
    def _parsed_trailers(self) -> dict[str, str]:
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

    @cached_property
    def signature_format(self) -> str | None:
        """How the tag object is signed (``ssh``, ``openpgp``, ``x509``), None when it is not."""
        if self.facts is not None:
            return self.facts.signature
        return _signature_format(self.message) if self.annotated else None

    @property
    def signed(self) -> bool:
        return self.signature_format is not None

    @property
    def summary(self) -> str:
        return self.facts.summary if self.facts is not None else tagmsg.summary(self.message)


def _signature_format(message: str) -> str | None:
    """The format of the signature block git finds in a tag message (its last marker line), or None."""
    block = message[tagmsg.signature_start(message) :]
    for marker, name in zip(tagmsg.SIGNATURE_MARKERS, ("openpgp", "ssh", "x509"), strict=True):
        if block.startswith(marker.decode()):
            return name
    return None


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
    return _made(
        tag=tag,
        name=name,
        version=version,
        target=str(obj.id),
        commit=str(commit),
        annotated=True,
        raw_message=obj.message or "",
        tagger=tagger,
        time=who.time,
        offset=who.offset,
        facts=None,
        source=None,
        named=obj.name,
    )


def facts_of(release: Release) -> TagFacts:
    """What the index remembers of an annotated release read from its tag object."""
    assert release.time is not None
    return TagFacts(
        release.commit,
        release.tagger,
        release.time,
        release.offset,
        release.signature_format,
        release.summary,
        release.trailers,
    )


def _from_facts(
    repo: pygit2.Repository, tag: str, name: str, version: Version, target: str, facts: TagFacts
) -> Release:
    """A release as the index knows it, built without the dataclass's per-field checks (ten thousand of
    them at every ``log``); the same fields ``Release(...)`` would set."""
    return _made(
        tag=tag,
        name=name,
        version=version,
        target=target,
        commit=facts.commit,
        annotated=True,
        raw_message=None,
        tagger=facts.tagger,
        time=facts.time,
        offset=facts.offset,
        facts=facts,
        source=repo,
        named=None,
    )


def _made(**fields: Any) -> Release:
    """A Release with every field given, made without the frozen dataclass's per-field setattr (a listing
    makes ten thousand): the same object ``Release(**fields)`` makes."""
    release = object.__new__(Release)
    release.__dict__.update(fields)
    return release


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


TAGS = "tags"
TAGS_SCOPE = "tag-facts/1"  # raise when TagFacts or the trailer parser changes


class Listed(NamedTuple):
    """One version tag as listing found it: what the index knows of its tag object (``facts``), or the
    release read from the object itself (``release``) when it knows nothing."""

    tag: str
    version: Version
    target: str
    facts: TagFacts | None
    release: Release | None


def release_of(repo: Repo, name: str, item: Listed) -> Release:
    """The Release a listed tag is."""
    if item.release is not None:
        return item.release
    assert item.facts is not None
    return _from_facts(repo.git, item.tag, name, item.version, item.target, item.facts)


def list_releases(repo: Repo, name: str, *, indexed: bool = True) -> list[Release]:
    """Every version tag of the system, highest version first; other tags, and version tags with build
    metadata, are ignored.

    ``indexed``: take what each tag object says from the versions index when it knows that object (and
    teach it the ones it does not), so listing ten thousand versions reads no tag object twice. ``verify``
    passes False: it judges the objects themselves.
    """
    return [release_of(repo, name, item) for item in listing(repo, name, indexed=indexed)]


def listing(
    repo: Repo, name: str, *, indexed: bool = True, refs: list[tuple[str, Version, str]] | None = None
) -> list[Listed]:
    """``list_releases`` without building a Release for what the index knows (``log`` of a long history
    needs only the facts); ``refs``: only these of ``version_refs``."""
    found = []
    known = index.Section(repo, TAGS, TAGS_SCOPE) if indexed else None
    git = repo.git
    get = known.entries.get if known is not None else None
    for tag, version, target in version_refs(repo, name) if refs is None else refs:
        facts = TagFacts.from_json(get(target)) if get is not None else None
        if facts is not None:
            found.append(Listed(tag, version, target, facts, None))
            continue
        release = release_from(git, tag, name, version, pygit2.Oid(hex=target))
        if release is None:
            continue
        found.append(Listed(tag, version, target, None, release))
        if known is not None and release.annotated:
            known.put(target, facts_of(release).as_json())
    if known is not None:
        known.save()
    return found


_PLAIN = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


def version_refs(repo: Repo, name: str) -> list[tuple[str, Version, str]]:
    """``(tag, version, target)`` of every version tag of the system, highest first, from the refs alone
    (no object read): what a caller that needs only the first few releases sorts by.

    MAJOR.MINOR.PATCH, nearly every tag, is matched by one pattern and sorted by its numbers; anything
    else goes through the full SemVer parser.
    """
    prefix = f"{TAG_PREFIX}{name}@v"
    skip, cut = len(TAG_PREFIX), len(prefix)
    plain_match = _PLAIN.fullmatch
    keyed: list[tuple[Any, str, str, Version | None]] = []
    for ref in repo.git.references.iterator():
        refname = ref.name
        if not refname.startswith(prefix):
            continue
        match = plain_match(refname, cut)
        if match is not None:
            major, minor, patch = int(match[1]), int(match[2]), int(match[3])
            keyed.append(((major, minor, patch, 1, ()), refname[skip:], str(ref.target), None))
            continue
        parsed = parse_tag(refname[skip:], name)
        if parsed is None:
            continue
        if parsed[1].build:
            _ignore_build(refname[skip:])
            continue
        keyed.append((parsed[1].precedence_key, refname[skip:], str(ref.target), parsed[1]))
    keyed.sort(key=_first, reverse=True)
    return [
        (tag, version if version is not None else semver.plain(*key[:3]), target)
        for key, tag, target, version in keyed
    ]


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


class Catalog:
    """The version tags of one system, listed only when a caller needs all of them."""

    def __init__(self, repo: Repo, name: str) -> None:
        self.repo = repo
        self.name = name

    @cached_property
    def all(self) -> list[Release]:
        """Every release, highest first."""
        return list_releases(self.repo, self.name)

    def named(self, tag: str) -> Release | None:
        """The release ``tag`` names (one ref looked up, not every tag listed), or None."""
        if "all" in self.__dict__:
            return next((r for r in self.all if r.tag == tag), None)
        parsed = parse_tag(tag, self.name)
        if parsed is None or parsed[1].build:
            return None
        try:
            ref = self.repo.git.references.get(TAG_PREFIX + tag)
        except (ValueError, pygit2.GitError):
            return None
        if ref is None:
            return None
        try:
            target = ref.resolve().target
        except (KeyError, pygit2.GitError):
            return None
        return release_from(self.repo.git, tag, self.name, parsed[1], pygit2.Oid(hex=str(target)))


def iter_reachable(repo: Repo, releases: Iterable[Release], head: pygit2.Oid | None) -> Iterator[Release]:
    """The releases whose commit HEAD contains, highest first; lazily, as callers rarely need many."""
    if head is None:
        return
    for release in releases:
        if repo.is_ancestor(repo.commit(release.commit).id, head):
            yield release


def below(
    repo: Repo,
    release: Release,
    pending: Iterable[Release] = (),
    listed: list[tuple[str, Version, str]] | None = None,
) -> Iterator[Release]:
    """The releases of ``release``'s system below it by SemVer precedence, highest first: the tag refs
    sorted by version (no object read) with ``pending`` (pushed with it, not refs yet) in their place, and
    each tag object read only when the caller gets that far. ``listed``: ``version_refs``, just read."""
    known = {r.tag: r for r in pending if r.name == release.name and not r.version.build}
    if listed is None:
        listed = version_refs(repo, release.name)
    refs = {tag: (version, target) for tag, version, target in listed}
    keyed = [(v.precedence_key, tag) for tag, (v, _) in refs.items() if tag not in known]
    keyed += [(r.version.precedence_key, r.tag) for r in known.values()]
    keyed.sort(key=_first, reverse=True)
    limit = release.version.precedence_key
    for key, tag in keyed:
        if key >= limit or tag == release.tag:
            continue
        if tag in known:
            yield known[tag]
            continue
        version, target = refs[tag]
        found = release_from(repo.git, tag, release.name, version, pygit2.Oid(hex=target))
        if found is not None:
            yield found


def last_release(repo: Repo, releases: list[Release], head: pygit2.Oid | None) -> Release | None:
    return next(iter_reachable(repo, releases, head), None)


def resolve(repo: Repo, arg: str, system_name: str | None = None) -> Release:
    """A version argument, in whichever system it names.

    A full tag ``NAME@vX.Y.Z`` carries its system, so it resolves whatever ``system_name`` says (a
    repository with several systems shares one ledger: any of them can be deployed from anywhere).
    ``vX.Y.Z``, ``X.Y.Z`` and digest prefixes are looked up among ``system_name``'s versions. An exact
    version is one ref looked up; only digest prefixes and mistakes (answered with the nearest versions)
    list them all.
    """
    parsed = parse_tag(arg.strip())
    name = parsed[0] if parsed is not None else system_name
    if name is None:
        raise UnknownVersion(
            f"'{arg}' does not say which system it is a version of: give the full tag (NAME@vX.Y.Z), or "
            "pass --system"
        )
    if arg.strip() == "HEAD":
        return _at_head(repo, name)
    exact = _exact(repo, name, arg.strip())
    if exact is not None:
        return exact
    releases = list_releases(repo, name)
    if not releases and name != system_name:
        raise UnknownVersion(f"'{arg}' is not a version of any system here: {name} has no releases{LOG}")
    return find(releases, name, arg)


def _exact(repo: Repo, name: str, text: str) -> Release | None:
    """The release an exact version or tag names, from its ref alone; None to look further."""
    parsed = parse_tag(text)
    if parsed is not None:
        version = parsed[1] if parsed[0] == name else None
    else:
        try:
            version = Version.parse(text)
        except InvalidVersion:
            version = None
    if version is None or version.build:
        return None
    return Catalog(repo, name).named(format_tag(name, version))


def highest_reachable(repo: Repo, name: str, heads: list[pygit2.Oid]) -> Release | None:
    """The highest release of ``name`` that one of ``heads`` contains: the tag refs sorted by version (no
    object read), then tag objects read from the highest down only until one is in reach."""
    for tag, version, target in version_refs(repo, name):
        release = release_from(repo.git, tag, name, version, pygit2.Oid(hex=target))
        if release is not None and any(contains(repo, tip, release.commit) for tip in heads):
            return release
    return None


def contains(repo: Repo, tip: pygit2.Oid, commit: str) -> bool:
    """Whether ``tip``'s history holds ``commit``; False when it cannot be told (a shallow clone may hold
    a tag but not its commit)."""
    try:
        return repo.is_ancestor(pygit2.Oid(hex=commit), tip)
    except (KeyError, ValueError, pygit2.GitError):
        return False


def _at_head(repo: Repo, name: str) -> Release:
    """``HEAD`` as a version: the release HEAD contains, highest first (the one HEAD is, after a release)."""
    head = repo.head()
    found = highest_reachable(repo, name, [head.id]) if head is not None else None
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
