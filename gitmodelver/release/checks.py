"""The result of verification: named checks, a version's report made of them, and the checks that read
only the values in hand (a manifest, a tag's trailers, a commit's tree)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from gitmodelver.core import digest, evaluation, pins, pipeline
from gitmodelver.core.semver import InvalidVersion, Version
from gitmodelver.errors import UsageError

if TYPE_CHECKING:
    from gitmodelver.core.manifest import Manifest
    from gitmodelver.gitstore.tree import CommitTree
    from gitmodelver.gitstore.versions import Release


def short(oid: str) -> str:
    return oid[:8]


class Check(NamedTuple):
    """One named check and what it found (a tuple: ``verify --all`` makes tens of thousands)."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


_line = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(…, ensure_ascii=False), made once


@dataclass(frozen=True)
class VersionReport:
    tag: str
    checks: list[Check]
    # ``line()``, written where the report was made (in a process of its own, see ``workers``)
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, Any]:
        checks = [{"name": name, "ok": ok, "detail": detail} for name, ok, detail in self.checks]
        return {"tag": self.tag, "ok": self.ok, "checks": checks}

    def line(self) -> str:
        """``as_json`` as one line of JSON: what ``verify --json`` prints for it in a long list."""
        return self.text if self.text is not None else _line(self.as_json())

    def written(self) -> VersionReport:
        """This report with its ``line`` written now."""
        return VersionReport(self.tag, self.checks, self.line())


class ExtraChecks(Protocol):
    """Checks of a version beyond its Git objects, made once for a run (the DVC objects, say)."""

    def checks(self, release: Release, m: Manifest, tree: CommitTree) -> list[Check]: ...


def manifest_check(release: Release, m: Manifest) -> Check:
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


def digest_check(release: Release, m: Manifest, state: str, version: str | None = None) -> Check:
    """The digests the tag claims, against the manifest's (``state`` and ``version``: its digests, when
    computed already)."""
    version = version if version is not None else digest.version_digest(m.data)
    expected = {"Modelver-Digest": version, "Modelver-State": state}
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


def pins_check(release: Release, m: Manifest, tree: CommitTree) -> Check:
    at = short(release.commit)
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


def sequence_check(release: Release, before: Manifest, bump: str, previous: str) -> Check:
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


def pipeline_checks(release: Release, m: Manifest, tree: CommitTree) -> list[Check]:
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


def evaluation_checks(release: Release, m: Manifest, tree: CommitTree, state: str) -> list[Check]:
    require = bool(m.policy.get("require_eval"))
    found = evaluation.assess(tree, m.data, m.base, state)
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
