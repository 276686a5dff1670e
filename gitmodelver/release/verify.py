"""Verifying released versions (SPEC §5 ``verify``): every claim a version tag makes, checked.

Only Git objects are read, so this works in a bare repository (server hooks) and never imports DVC;
DVC comes in only for objects on a remote (``remote``) or rehashing the cache (``deep``).

A run over many versions validates each manifest blob once, derives each version's predecessor from one
sorted list of the tags, and keeps what it learned in the versions index for the next run
(``release.verdicts`` says what each kept verdict depends on, and so when it is judged again).
"""

from __future__ import annotations

import tomllib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver import output
from gitmodelver.core import digest
from gitmodelver.core.diff import bump_level, diff, policy_overrides
from gitmodelver.core.manifest import Manifest, parse
from gitmodelver.core.semver import LEVELS, Version, level_rank
from gitmodelver.core.tomltext import plain_toml
from gitmodelver.errors import ManifestError, ModelverError
from gitmodelver.gitstore import signature
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release, list_releases, release_from, version_refs
from gitmodelver.release import workers
from gitmodelver.release.checks import (
    Check,
    ExtraChecks,
    VersionReport,
    digest_check,
    evaluation_checks,
    manifest_check,
    pins_check,
    pipeline_checks,
    sequence_check,
    short,
)
from gitmodelver.release.verdicts import Kept, Problems, Verdict

Ref = tuple[str, Version, str]  # a version tag ref, not read yet: (tag, version, tag object id)


def _version(candidate: Release | Ref) -> Version:
    return candidate.version if isinstance(candidate, Release) else candidate[1]


# From this many versions on, a run reads the kept version verdicts: for fewer, judging them costs less
# than reading the whole section.
MANY = 16


@dataclass
class Context:
    """What many verifications share: manifests by blob, signature verdicts, the tags, the DVC side."""

    repo: Repo
    system: System
    signatures: dict[str, signature.Signature] = field(default_factory=dict)
    known: Mapping[str, Release] = field(default_factory=dict)
    # by blob: the parsed manifest, its problems (each to follow FILE@TAG), or None (not a blob)
    manifests: dict[str, Manifest | Problems | None] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)  # by manifest blob, unvalidated
    kept: Kept | None = None  # the versions index, for a run over many versions
    extra: ExtraChecks | None = None  # checks beyond Git objects (DVC's, see ``dvc.object_checks``)
    listed: list[Release] | None = None  # every release of the system, when the caller just listed them
    refs: list[Ref] | None = None  # or its version tag refs (``versions.version_refs``), when just read
    _candidates: list[Release] | None = None
    _ladder: tuple[list[Release | Ref], list[Any]] | None = None
    _commits: dict[str, pygit2.Commit | None] = field(default_factory=dict)
    _refs_read: dict[str, Release | None] = field(default_factory=dict)
    blobs: dict[pygit2.Oid, bytes] = field(default_factory=dict)  # files the versions share, by id
    trees: dict[pygit2.Oid, pygit2.Tree] = field(default_factory=dict)  # and folders

    def candidates(self) -> list[Release]:
        """The system's releases as refs, with ``known`` ones (not refs yet) in their place."""
        if self._candidates is None:
            releases = self.listed
            if releases is None:
                releases = list_releases(self.repo, self.system.name, indexed=False)
            self._candidates = list({**{r.tag: r for r in releases}, **self.known}.values())
        return self._candidates

    def previous(self, release: Release) -> Release | None:
        """The release ``release`` follows, derived from Git alone (never from its own trailers): the
        highest candidate below it by SemVer precedence whose commit a parent of its commit contains.

        The candidates are sorted once for the run; each release looks down from its own place. Without
        the releases listed (a few versions checked, a hook), the tag refs are sorted by version and tag
        objects are read from the release down only until one is found: a history's length costs a sort.
        """
        commit = self.commit(release.commit)
        if commit is None:
            return None
        parents = commit.parent_ids
        direct = {str(p) for p in parents}
        ladder, keys = self.ladder()
        for i in range(bisect_left(keys, release.version.precedence_key) - 1, -1, -1):
            candidate = self._release(ladder[i])
            if candidate is None or candidate.tag == release.tag:
                continue
            if candidate.commit in direct:  # the usual case: released right after it
                return candidate
            found = self.commit(candidate.commit)
            if found is not None and any(self.repo.is_ancestor(found.id, p) for p in parents):
                return candidate
        return None

    def ladder(self) -> tuple[list[Release | Ref], list[Any]]:
        """The candidates by ascending precedence (build metadata is no release), with their keys: releases
        when they were listed, else the refs (read when ``previous`` reaches them) and ``known``."""
        if self._ladder is None:
            if self.listed is None and self._candidates is None:
                refs = self.refs if self.refs is not None else version_refs(self.repo, self.system.name)
                found: dict[str, Release | Ref] = {
                    tag: (tag, version, target) for tag, version, target in refs
                }
                found.update(self.known)
            else:
                found = {r.tag: r for r in self.candidates()}
            keyed = sorted(
                ((_version(c).precedence_key, c) for c in found.values() if not _version(c).build),
                key=lambda kc: kc[0],
            )
            self._ladder = [c for _, c in keyed], [k for k, _ in keyed]
        return self._ladder

    def _release(self, candidate: Release | Ref) -> Release | None:
        """A candidate as a release: a ref is read from its tag object, once (None: it is no release)."""
        if isinstance(candidate, Release):
            return candidate
        tag, version, target = candidate
        if tag not in self._refs_read:
            oid = pygit2.Oid(hex=target)
            self._refs_read[tag] = release_from(self.repo.git, tag, self.system.name, version, oid)
        return self._refs_read[tag]

    def reopen(self) -> None:
        """A repository handle of this process's own (in a forked one: see ``workers``)."""
        self.repo.git = pygit2.Repository(self.repo.git.path)
        self._commits = {}
        self.trees = {}

    def commit(self, oid: str) -> pygit2.Commit | None:
        if oid not in self._commits:  # each release's commit is read for itself and for the next release
            obj = self.repo.git.get(oid)
            if obj is None or isinstance(obj, pygit2.Commit):
                self._commits[oid] = obj
            else:
                self._commits[oid] = obj.peel(pygit2.Commit)
        return self._commits[oid]

    def manifest_at(self, commit: pygit2.Commit, label: str) -> Manifest | None:
        """The manifest in ``commit``; None when it has none; raises ManifestError when invalid."""
        try:
            entry = commit.tree[self.system.file]
        except KeyError:
            return None
        key = str(entry.id)
        if key not in self.manifests:
            self.manifests[key] = self._judge(entry.id, label)
        found = self.manifests[key]
        if isinstance(found, tuple):
            where = f"{self.system.file}@{label}"
            raise ManifestError(where, [where + problem for problem in found])
        return found

    def _judge(self, oid: pygit2.Oid, label: str) -> Manifest | Problems | None:
        """A manifest blob parsed, validated unless the index knows it valid, and the verdict kept."""
        blob = self.repo.git[oid]
        if not isinstance(blob, pygit2.Blob):
            return None
        key = str(oid)
        known = self.kept.manifest(key) if self.kept is not None else None
        if isinstance(known, tuple):
            return known
        where = f"{self.system.file}@{label}"
        try:
            text = blob.data.decode("utf-8")
            found: Manifest | Problems = parse(text, where, trusted=known is True)
        except UnicodeDecodeError:
            found = (": not UTF-8",)
        except ManifestError as exc:
            found = tuple(p.removeprefix(where) if p.startswith(where) else f": {p}" for p in exc.problems)
        if self.kept is not None:
            self.kept.learn_manifest(key, True if isinstance(found, Manifest) else found)
        return found

    def version_in(self, commit: pygit2.Commit) -> str | None:
        """``system.version`` of a commit's manifest, read without validation (parents of a release)."""
        try:
            oid = commit.tree[self.system.file].id
        except KeyError:
            return None
        key = str(oid)
        parsed = self.manifests.get(key)
        if isinstance(parsed, Manifest):
            return parsed.version
        if key not in self.versions:
            self.versions[key] = _toml_version(self.repo.git[oid])
        return self.versions[key]


def _toml_version(blob: pygit2.Object) -> str | None:
    try:
        text = blob.data.decode("utf-8")  # type: ignore[attr-defined]
        data = plain_toml(text)
        if data is None:
            data = tomllib.loads(text)
        return str(data["system"]["version"])
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
        # ValueError: not UTF-8, not TOML, or an integer of thousands of digits; RecursionError: nested
        # deeper than tomllib reads
        return None


def verify_release(
    repo: Repo,
    system: System,
    release: Release,
    *,
    known: Mapping[str, Release] | None = None,
    refs: list[Ref] | None = None,
) -> VersionReport:
    """Check one version tag from Git objects alone.

    ``known`` names releases that are not refs yet (a pre-receive hook sees a push of several tags),
    so ``Modelver-Previous`` can point at one of them; ``refs``: the system's version tag refs, when the
    caller has just read them.
    """
    return check_release(Context(repo, system, known=dict(known or {}), refs=refs), release)


def manifest_of(repo: Repo, system: System, commit: pygit2.Commit, label: str) -> Manifest | None:
    """The manifest in ``commit``, validated (like a verify)."""
    return Context(repo, system).manifest_at(commit, label)


def verify_releases(
    repo: Repo,
    system: System,
    releases: Iterable[Release],
    *,
    extra: Callable[[Context, list[Release]], ExtraChecks] | None = None,
    complete: bool = False,
    lines: bool = False,
) -> list[VersionReport]:
    """Check many tags sharing parsed manifests, one ``git verify-tag`` per signed tag (verdicts cached),
    and what the versions index remembers of them (``release.verdicts``).

    ``extra`` makes the checks beyond Git objects once for all of them (``dvc.object_checks.factory``).
    ``complete``: ``releases`` are every release of the system, just listed: not listed again.
    ``lines``: each report's JSON line is written where it is made (``VersionReport.line``), when the
    reports are made in several processes.
    """
    releases = list(releases)
    kept = Kept(repo, versions=len(releases) >= MANY)
    sigs = signature.verify_cached(repo, releases)
    ctx = Context(repo, system, signatures=sigs, kept=kept, listed=releases if complete else None)
    if extra is not None:
        ctx.extra = extra(ctx, releases)
    # Only work to do is shared out (verdicts kept are read sooner than a process starts), and the DVC
    # side is checked in this process alone: its objects and remotes are not forked.
    unknown = sum(1 for r in releases if not kept.knows(r.target))
    count = workers.processes(unknown, workers.jobs(repo)) if ctx.extra is None else 1
    if count > 1:
        ctx.ladder()  # sorted once, before the processes share it
        work = workers.batches(releases)
        reports = workers.run_shared(
            work,
            lambda batch: [_made(check_release(ctx, r), lines) for r in batch],
            count,
            kept.learned,
            kept.learn,
            ctx.reopen,
        )
    else:  # in one process, one json.dumps of them all costs less than a line each
        reports = [check_release(ctx, r) for r in output.progress(releases, "verify")]
    kept.save()
    return reports


def _made(report: VersionReport, lines: bool) -> VersionReport:
    return report.written() if lines else report


def check_release(ctx: Context, release: Release) -> VersionReport:
    commit = ctx.commit(release.commit)
    if commit is None:
        return VersionReport(
            release.tag, [Check("tag-object", False, f"{release.tag}: commit {release.commit} is missing")]
        )
    previous = ctx.previous(release)
    verdict = _kept(ctx, release)
    # a kept level was judged against the release this one followed then: the tags may have changed
    stale = verdict is not None and verdict.leveled and verdict.previous != _identity(previous)
    m: Manifest | None = None
    problem: Check | None = None
    if verdict is None or stale or ctx.extra is not None:
        m, problem = _load(ctx, release, commit)
    keep = True
    if verdict is None or (stale and m is None):
        verdict, keep = _judged(ctx, release, commit, m, problem, previous)
    elif stale:
        assert m is not None
        level, keep = _level(ctx, release, m, previous)
        verdict = verdict.with_level(_identity(previous), level)
    else:
        keep = False  # kept already
    if keep and ctx.kept is not None and release.annotated:
        ctx.kept.learn_version(release.target, verdict)
    checks = [_signature(ctx, release, verdict.require_signed), *verdict.checks]
    if ctx.extra is not None and m is not None and verdict.leveled:
        checks += ctx.extra.checks(release, m, CommitTree(ctx.repo.git, commit, release.tag))
    return VersionReport(release.tag, checks)


def _kept(ctx: Context, release: Release) -> Verdict | None:
    """The index's verdict on this tag object, under this name, for this system's manifest path."""
    if ctx.kept is None or not release.annotated:
        return None
    return ctx.kept.version(release.target, release.tag, ctx.system.file)


def _identity(release: Release | None) -> tuple[str, str] | None:
    return (release.tag, release.commit) if release is not None else None


def _judged(
    ctx: Context,
    release: Release,
    commit: pygit2.Commit,
    m: Manifest | None,
    problem: Check | None,
    previous: Release | None,
) -> tuple[Verdict, bool]:
    """Every check its Git objects decide, and whether the verdict may be kept (it may not when an object
    it needs is missing: a fetch can bring it)."""
    if m is None:
        assert problem is not None
        unread = (_tag_object(ctx, release, commit), problem)
        return Verdict(release.tag, ctx.system.file, False, unread, None), True
    # The level check parses the previous release, which is often this commit's parent: do it before
    # the tag-object check reads that parent's version, so the manifest is parsed once.
    level, keep = _level(ctx, release, m, previous)
    tree = CommitTree(ctx.repo.git, commit, release.tag, ctx.blobs, ctx.trees)
    version, state = digest.digests(m.data)
    checks = (
        _tag_object(ctx, release, commit),
        manifest_check(release, m),
        digest_check(release, m, state, version),
        pins_check(release, m, tree),
        level,
        *evaluation_checks(release, m, tree, state),
        *pipeline_checks(release, m, tree),
    )
    required = bool(m.policy.get("require_signed"))
    return Verdict(release.tag, ctx.system.file, required, checks, _identity(previous)), keep


def _load(ctx: Context, release: Release, commit: pygit2.Commit) -> tuple[Manifest | None, Check | None]:
    try:
        m = ctx.manifest_at(commit, release.tag)
    except ManifestError as exc:
        problems = "; ".join(exc.problems[:5]) + (" …" if len(exc.problems) > 5 else "")
        return None, Check("manifest", False, f"{problems} (see `git show {release.tag}:{ctx.system.file}`)")
    if m is None:
        return None, Check(
            "manifest",
            False,
            f"{release.tag} points at {short(release.commit)}, which has no {ctx.system.file}: "
            "not a release commit of this system (`git modelver log`)",
        )
    return m, None


def _signature(ctx: Context, release: Release, required: bool) -> Check:
    """Git's verdict on the tag's signature; ``required``: the manifest's policy demands one."""
    sig = ctx.signatures.get(release.tag) or signature.verify(ctx.repo, release)
    if not sig.signed:
        if required:
            return Check(
                "signature",
                False,
                f"{release.tag} is not signed, but policy.require_signed is on in {ctx.system.file} at "
                f"{short(release.commit)}: if it was never published, `git tag -d {release.tag}` and "
                "release again with `git modelver release --sign`",
            )
        return Check("signature", True, "not signed (policy.require_signed is off)")
    if not sig.verified:
        return Check(
            "signature",
            False,
            f"{release.tag}: {sig.detail} (`git verify-tag {release.tag}`); if you trust the signer, add "
            "their key to gpg.ssh.allowedSignersFile or your GPG keyring, else treat the tag as forged",
        )
    return Check("signature", True, sig.detail)


def _tag_object(ctx: Context, release: Release, commit: pygit2.Commit) -> Check:
    ref = f"refs/tags/{release.tag}"
    fix = f"restore it from a trusted remote: `git fetch origin +{ref}:{ref}`"
    if not release.annotated:
        return Check(
            "tag-object",
            False,
            f"refs/tags/{release.tag} is a lightweight tag: a release is an annotated tag with trailers; "
            f"`git tag -d {release.tag}` and `git modelver release`",
        )
    name = release.named  # read with the tag object when it was listed
    if name is None:
        obj = ctx.repo.git.get(release.target)
        name = obj.name if isinstance(obj, pygit2.Tag) else None
    if name != release.tag:
        return Check(
            "tag-object",
            False,
            f"{ref} points at the tag object of '{name}': the tag was renamed or moved; {fix}",
        )
    if ctx.version_in(commit) == str(release.version):
        for parent in filter(None, (ctx.commit(str(p)) for p in commit.parent_ids)):
            if ctx.version_in(parent) == str(release.version):
                origin = _release_commit(ctx, parent, str(release.version))
                return Check(
                    "tag-object",
                    False,
                    f"{release.tag} points at {short(str(commit.id))}, but system.version = "
                    f"{release.version} was written by {short(str(origin.id))}: the tag was moved; {fix}",
                )
    return Check("tag-object", True, f"annotated tag {name} on {short(release.commit)}")


def _release_commit(ctx: Context, commit: pygit2.Commit, version: str) -> pygit2.Commit:
    """The first-parent ancestor that set ``version`` (its own parent has another one)."""
    while commit.parents and ctx.version_in(commit.parents[0]) == version:
        commit = commit.parents[0]
    return commit


def _level(ctx: Context, release: Release, m: Manifest, expected: Release | None) -> tuple[Check, bool]:
    """The level the tag claims, against the diff from ``expected``, the release Git says it follows
    (never the tag's own ``Modelver-Previous``, which must name that same release); and whether the
    verdict may be kept."""
    bump, claimed = release.bump, release.previous
    if bump is None:
        return Check("level", False, f"the tag message of {release.tag} has no Modelver-Bump trailer"), True
    if expected is None:
        if claimed is not None:
            return Check(
                "level",
                False,
                f"Modelver-Previous names {claimed}, but no earlier release of {ctx.system.name} is in the "
                f"history of {short(release.commit)}: `git fetch --tags`, or the tag message is forged",
            ), True
        return Check("level", True, f"{bump}: first release"), True
    if claimed != expected.tag:
        said = f"names {claimed}" if claimed else "is missing"
        return Check(
            "level",
            False,
            f"Modelver-Previous {said}, but {release.tag} follows {expected.tag} (the highest release in "
            f"the history of its commit): the tag message does not describe its release",
        ), True
    previous = expected.tag
    found = ctx.commit(expected.commit)
    if found is None:
        return Check("level", False, f"{previous}: its commit is missing: `git fetch --tags`"), False
    try:
        before = ctx.manifest_at(found, previous)
    except ManifestError:
        before = None
    if before is None:
        return Check("level", False, f"Modelver-Previous {previous} has no valid {ctx.system.file}"), True
    changes = diff(before.data, m.data, policy_overrides(m.data))
    required = bump_level(changes)
    if bump not in LEVELS or (required is not None and level_rank(bump) < level_rank(required)):
        culprits = ", ".join(f"{c.path} ({c.level})" for c in changes if c.level == required)
        return Check(
            "level",
            False,
            f"Modelver-Bump says {bump}, but the diff from {previous} demands {required} ({culprits}): "
            f"{release.tag} understates its changes; if it was never published, `git tag -d {release.tag}` "
            f"and `git modelver release --level {required}`",
        ), True
    return sequence_check(release, before, bump, previous), True


def summary(reports: list[VersionReport]) -> ModelverError | None:
    """The one-line error for a failed verification, or None when everything verified."""
    from gitmodelver.errors import CheckFailed

    bad = [r for r in reports if not r.ok]
    if not bad:
        return None
    names = ", ".join(r.tag for r in bad[:3]) + (" …" if len(bad) > 3 else "")
    first = bad[0].failures[0]
    return CheckFailed(
        f"{len(bad)} of {len(reports)} version(s) failed verification ({names}): {first.name}: {first.detail}"
    )
