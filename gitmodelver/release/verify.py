"""Verifying released versions (SPEC §5 ``verify``): every claim a version tag makes, checked.

Only Git objects are read, so this works in a bare repository (server hooks) and never imports DVC;
DVC comes in only for objects on a remote (``remote``) or rehashing the cache (``deep``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitmodelver import output
from gitmodelver.core import digest, evaluation, pins, pipeline
from gitmodelver.core.diff import bump_level, diff, policy_overrides
from gitmodelver.core.manifest import Manifest, parse
from gitmodelver.core.semver import LEVELS, level_rank
from gitmodelver.errors import ManifestError, ModelverError, UsageError
from gitmodelver.gitstore import signature
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import TAG_PREFIX, Release, list_releases, previous_release
from gitmodelver.release.checks import Check, ExtraChecks, VersionReport


def short(oid: str) -> str:
    return oid[:8]


@dataclass
class Context:
    """What many verifications share: parsed manifests by blob, signature verdicts, the DVC side."""

    repo: Repo
    system: System
    signatures: dict[str, signature.Signature] = field(default_factory=dict)
    known: Mapping[str, Release] = field(default_factory=dict)
    manifests: dict[str, Manifest | ManifestError | None] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)  # by manifest blob, unvalidated
    # Where texts that passed the schema are remembered (see schema_cache): one version at a time only,
    # since that cache keeps a few dozen entries and `--all` would churn it.
    schema_cache: Path | None = None
    extra: ExtraChecks | None = None  # checks beyond Git objects (DVC's, see ``dvc.object_checks``)
    _candidates: list[Release] | None = None

    def candidates(self) -> list[Release]:
        """The system's releases as refs, with ``known`` ones (not refs yet) in their place."""
        if self._candidates is None:
            listed = {r.tag: r for r in list_releases(self.repo, self.system.name)}
            self._candidates = list({**listed, **self.known}.values())
        return self._candidates

    def commit(self, oid: str) -> pygit2.Commit | None:
        obj = self.repo.git.get(oid)
        return obj.peel(pygit2.Commit) if obj is not None else None

    def manifest_at(self, commit: pygit2.Commit, label: str) -> Manifest | None:
        """The manifest in ``commit``; None when it has none; raises ManifestError when invalid."""
        try:
            entry = commit.tree[self.system.file]
        except KeyError:
            return None
        key = str(entry.id)
        if key not in self.manifests:
            self.manifests[key] = self._parse(entry.id, label)
        found = self.manifests[key]
        if isinstance(found, ManifestError):
            raise found
        return found

    def _parse(self, oid: pygit2.Oid, label: str) -> Manifest | ManifestError | None:
        blob = self.repo.git[oid]
        if not isinstance(blob, pygit2.Blob):
            return None
        try:
            return parse(blob.data.decode("utf-8"), f"{self.system.file}@{label}", cache=self.schema_cache)
        except UnicodeDecodeError:
            return ManifestError(self.system.file, [f"{self.system.file}@{label}: not UTF-8"])
        except ManifestError as exc:
            return exc

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

    def release_named(self, tag: str) -> tuple[str, pygit2.Commit] | None:
        """The commit a tag name points at: a release passed in ``known`` wins over the local ref."""
        if tag in self.known:
            commit = self.commit(self.known[tag].commit)
            return (tag, commit) if commit is not None else None
        ref = self.repo.git.references.get(TAG_PREFIX + tag)
        if ref is None:
            return None
        try:
            return tag, ref.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError):
            return None


def _toml_version(blob: pygit2.Object) -> str | None:
    try:
        data = tomllib.loads(blob.data.decode("utf-8"))  # type: ignore[attr-defined]
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
) -> VersionReport:
    """Check one version tag from Git objects alone.

    ``known`` names releases that are not refs yet (a pre-receive hook sees a push of several tags),
    so ``Modelver-Previous`` can point at one of them.
    """
    ctx = Context(repo, system, known=dict(known or {}), schema_cache=_state_dir(repo))
    return check_release(ctx, release)


def _state_dir(repo: Repo) -> Path | None:
    if repo.bare:
        return None  # a server's repository is only read
    try:
        return repo.state_dir()
    except OSError:
        return None  # a read-only repository only loses the shortcut


def manifest_of(repo: Repo, system: System, commit: pygit2.Commit, label: str) -> Manifest | None:
    """The manifest in ``commit``, validated, with schema verdicts remembered per text (like a verify)."""
    return Context(repo, system, schema_cache=_state_dir(repo)).manifest_at(commit, label)


def verify_releases(
    repo: Repo,
    system: System,
    releases: Iterable[Release],
    *,
    extra: Callable[[Context, list[Release]], ExtraChecks] | None = None,
) -> list[VersionReport]:
    """Check many tags sharing parsed manifests, one ``git verify-tag`` per signed tag (verdicts cached).

    ``extra`` makes the checks beyond Git objects once for all of them (``dvc.object_checks.factory``).
    """
    releases = list(releases)
    ctx = Context(repo, system, signatures=signature.verify_cached(repo, releases))
    if extra is not None:
        ctx.extra = extra(ctx, releases)
    return [check_release(ctx, r) for r in output.progress(releases, "verify")]


def check_release(ctx: Context, release: Release) -> VersionReport:
    commit = ctx.commit(release.commit)
    if commit is None:
        return VersionReport(
            release.tag, [Check("tag-object", False, f"{release.tag}: commit {release.commit} is missing")]
        )
    m, problem = _load(ctx, release, commit)
    # The level check parses the previous release, which is often this commit's parent: do it before
    # the tag-object check reads that parent's version, so the manifest is parsed once.
    level = _level(ctx, release, m) if m is not None else None
    checks = [
        _signature(ctx, release, m),
        _tag_object(ctx, release, commit),
        problem or _manifest(release, m),
    ]
    if m is not None and level is not None:
        tree = CommitTree(ctx.repo.git, commit, release.tag)
        checks += [_digest(release, m), _pins(release, m, tree, commit), level]
        checks += _evaluation(release, m, tree)
        checks += _pipeline(release, m, tree)
        if ctx.extra is not None:
            checks += ctx.extra.checks(release, m, tree)
    return VersionReport(release.tag, checks)


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


def _signature(ctx: Context, release: Release, m: Manifest | None) -> Check:
    sig = ctx.signatures.get(release.tag) or signature.verify(ctx.repo, release)
    required = bool(m.policy.get("require_signed")) if m is not None else False
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
    obj = ctx.repo.git.get(release.target)
    name = obj.name if isinstance(obj, pygit2.Tag) else None
    if name != release.tag:
        return Check(
            "tag-object",
            False,
            f"{ref} points at the tag object of '{name}': the tag was renamed or moved; {fix}",
        )
    if ctx.version_in(commit) == str(release.version):
        for parent in commit.parents:
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


def _manifest(release: Release, m: Manifest | None) -> Check:
    assert m is not None
    where = f"{m.file.split('@')[0]} at {short(release.commit)}"
    ref = f"refs/tags/{release.tag}"
    if m.name != release.name:
        return Check(
            "manifest", False, f"{where} says system.name = {m.name!r}, the tag says {release.name!r}"
        )
    if m.version != str(release.version):
        return Check(
            "manifest",
            False,
            f"{where} says system.version = {m.version!r}, the tag says {release.version}: the tag points "
            f"at the wrong commit; restore it: `git fetch origin +{ref}:{ref}`",
        )
    return Check("manifest", True, f"{where} is valid, version {m.version}")


def _digest(release: Release, m: Manifest) -> Check:
    expected = {
        "Modelver-Digest": digest.version_digest(m.data),
        "Modelver-State": digest.state_digest(m.data),
    }
    problems = []
    for trailer, value in expected.items():
        claimed = release.trailers.get(trailer)
        if claimed is None:
            problems.append(f"the tag message has no {trailer} trailer")
        elif claimed != value:
            problems.append(
                f"{trailer} trailer says {digest.short(claimed)}… but the manifest at "
                f"{short(release.commit)} gives {digest.short(value)}…"
            )
    if problems:
        return Check(
            "digest",
            False,
            "; ".join(problems)
            + f": the tag message or the manifest was altered (`git modelver show {release.tag}`)",
        )
    return Check("digest", True, expected["Modelver-Digest"])


def _pins(release: Release, m: Manifest, tree: CommitTree, commit: pygit2.Commit) -> Check:
    at = short(str(commit.id))
    problems = []
    try:
        computed = pins.compute(m.data, tree, m.base)
    except UsageError as exc:  # a DVC file naming a path outside the repository: refused, not checked
        raise UsageError(f"{release.tag}: {exc.message}", fix=exc.fix) from exc
    for pin in computed:
        ref = pin.ref
        what = "hashes to" if ref.kind == "path" else "records"
        if pin.missing:
            kind = {"path": "file", "params": "params file"}.get(ref.kind, "DVC output")
            why = f" ({pin.why})" if pin.why and ref.kind in ("path", "params") else ""
            problems.append(f"{ref.dotted}: {pin.repo_path} is no {kind} at {at}{why}")
        elif ref.pin is None:
            problems.append(f"{ref.pin_path} is not pinned")
        elif pin.stale and ref.kind == "params":
            problems.append(f"{ref.pin_path}: {pin.repo_path} at {at} does not hold the values it pins")
        elif pin.stale:
            problems.append(
                f"{ref.pin_path} pins {ref.pin[:12]}… but {_source(pin)} at {at} "
                f"{what} {str(pin.actual)[:12]}…{_link_text_pin(pin, tree)}"
            )
    if problems:
        return Check(
            "pins",
            False,
            "; ".join(problems) + f": {release.tag} does not match its own files; release again from a "
            "locked tree (`git modelver lock`, commit, `git modelver release`)",
        )
    return Check("pins", True, f"{len(m.refs)} file reference(s) match their pins")


def _source(pin: pins.Pin) -> str:
    if pin.ref.kind == "path" and pin.file != pin.repo_path:
        return f"{pin.repo_path} (a symlink to {pin.file})"
    if pin.ref.kind == "path" or pin.repo_path.endswith(".dvc"):
        return pin.repo_path
    return f"the DVC record of {pin.repo_path}"


def _link_text_pin(pin: pins.Pin, tree: CommitTree) -> str:
    """A hint for releases made when a symlinked prompt was pinned by the link's own text."""
    if pin.ref.kind != "path" or pin.file == pin.repo_path:
        return ""
    text = tree.blob(pin.repo_path)
    if text is None or hashlib.sha256(text).hexdigest() != pin.ref.pin:
        return ""
    return " (the pin is of the symlink's own text, which says nothing of the prompt)"


def _level(ctx: Context, release: Release, m: Manifest) -> Check:
    """The level the tag claims, against the diff from the release Git says it follows (never the tag's
    own ``Modelver-Previous``, which must name that same release)."""
    bump, claimed = release.bump, release.previous
    if bump is None:
        return Check("level", False, f"the tag message of {release.tag} has no Modelver-Bump trailer")
    expected = previous_release(ctx.repo, release, ctx.candidates())
    if expected is None:
        if claimed is not None:
            return Check(
                "level",
                False,
                f"Modelver-Previous names {claimed}, but no earlier release of {ctx.system.name} is in the "
                f"history of {short(release.commit)}: `git fetch --tags`, or the tag message is forged",
            )
        return Check("level", True, f"{bump}: first release")
    if claimed != expected.tag:
        said = f"names {claimed}" if claimed else "is missing"
        return Check(
            "level",
            False,
            f"Modelver-Previous {said}, but {release.tag} follows {expected.tag} (the highest release in "
            f"the history of its commit): the tag message does not describe its release",
        )
    previous = expected.tag
    found = ctx.release_named(previous)
    if found is None:
        return Check("level", False, f"{previous}: its commit is missing: `git fetch --tags`")
    try:
        before = ctx.manifest_at(found[1], previous)
    except ManifestError:
        before = None
    if before is None:
        return Check("level", False, f"Modelver-Previous {previous} has no valid {ctx.system.file}")
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
        )
    return _sequence(release, before, bump, previous)


def _sequence(release: Release, before: Manifest, bump: str, previous: str) -> Check:
    from gitmodelver.core.semver import InvalidVersion, Version

    try:
        prev = Version.parse(str(before.version))
        expected = prev.bump(bump) if bump != "none" and not prev.is_prerelease else None
    except (InvalidVersion, ValueError):
        expected = None
    if expected is not None and release.version.core != expected:
        return Check(
            "level",
            False,
            f"{release.tag} is not a {bump} step from {previous} (that would be {expected})",
        )
    return Check("level", True, f"{bump} from {previous}")


def _pipeline(release: Release, m: Manifest, tree: CommitTree) -> list[Check]:
    """A release commit whose dvc.lock no longer matches its files must say so in its tag."""
    stale = pipeline.stale_stages(tree, pipeline.folders_up(m.base))
    if not stale:
        return []
    declared = {s.strip() for s in (release.trailers.get("Modelver-Stale") or "").split(",") if s.strip()}
    hidden = [s for s in stale if s.stage not in declared]
    if hidden:
        said = "; ".join(str(s) for s in hidden)
        return [Check("pipeline", False, f"dvc.lock does not match the release commit: {said}")]
    return [
        Check("pipeline", True, f"released with a stale pipeline, as its tag says: {', '.join(declared)}")
    ]


def _evaluation(release: Release, m: Manifest, tree: CommitTree) -> list[Check]:
    require = bool(m.policy.get("require_eval"))
    found = evaluation.assess(tree, m.data, m.base, digest.state_digest(m.data))
    if found is None:
        if require:
            return [Check("evaluation", False, "policy.require_eval is on but [evaluation] names no results")]
        return []
    if found.problems:
        said = "; ".join(found.problems[:3])
        if require:
            return [Check("evaluation", False, f"{said}: re-run the evaluation")]
        return [Check("evaluation", True, f"warning: {said} (policy.require_eval is off)")]
    if not found.bound:
        message = f"{found.path}: {found.binding}"
        if require:
            return [Check("evaluation", False, f"{message}; re-run the evaluation and release again")]
        return [Check("evaluation", True, f"warning: {message} (policy.require_eval is off)")]
    if found.failed:
        failed = "; ".join(g.describe() for g in found.failed)
        return [Check("evaluation", False, f"{found.path}: gate failed: {failed}")]
    return [Check("evaluation", True, f"{found.path} is bound to this state ({found.binding}); gates pass")]


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
