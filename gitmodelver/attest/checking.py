"""``verify``'s part for attestations: every signature recorded for a version, checked three ways.

* the signature, by the ``model_signing`` library, against the trust configured (``Trust``);
* the files it signs, against the version's: Git blobs and the DVC cache's bytes hashed again (never the
  md5 -> sha256 map attest keeps), or the files of a folder ``reproduce`` laid out, by the library;
* its ``modelver`` binding (tag object, commit, version and state digests, evaluation results), against
  the digests derived from the version's manifest: a signature copied from another version fails here.
"""

from __future__ import annotations

from pathlib import Path

from gitmodelver.attest import branch, digests, files, oms
from gitmodelver.attest.statement import (
    REF,
    NotAnAttestation,
    binding_problems,
    claim,
    resource_problems,
    signer_hint,
)
from gitmodelver.dvc import dvcops
from gitmodelver.errors import ModelverError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.checks import Check, VersionReport

NAME = "attestation"
CONFIG = "modelver.attestation"


def trust(repo: Repo, keys: list[str]) -> oms.Trust:
    """``--attestation-key`` files, then git config ``modelver.attestation.{publicKey,certificateChain,
    identity,issuer}`` (paths relative to the repository)."""

    def every(key: str) -> list[str]:
        out = repo.run("config", "--get-all", f"{CONFIG}.{key}", check=False).out
        return [line for line in out.splitlines() if line.strip()]

    found = oms.trust_from(
        [*keys, *every("publicKey")],
        every("certificateChain"),
        repo.config(f"{CONFIG}.identity"),
        repo.config(f"{CONFIG}.issuer"),
        repo.root,
    )
    return found


def present(repo: Repo) -> bool:
    return branch.tip(repo) is not None


def checks(
    repo: Repo, system: System, release: Release, trusted: oms.Trust, *, folder: Path | None, required: bool
) -> list[Check]:
    stored = branch.of_version(repo, release.tag)
    if not stored:
        if not required:
            return []
        return [
            Check(
                NAME,
                False,
                f"{release.tag} has no attestation on {REF.removeprefix('refs/heads/')} "
                "(--require-attestation): `git modelver push` fetches the remote's; or sign it with "
                f"`git modelver attest {release.tag} --key <private.pem>`",
            )
        ]
    try:
        truth = files.version_files(repo, system, release, _store(repo))
    except ModelverError as exc:
        return [Check(NAME, False, f"{release.tag}: its files cannot be listed: {exc}")]
    actual = None if folder is not None else _actual(repo, truth)
    return [_one(s, truth, trusted, folder, actual) for s in stored]


def _store(repo: Repo) -> dvcops.Store | None:
    return dvcops.Store.open(repo.root) if (repo.root / ".dvc").is_dir() else None


def _actual(repo: Repo, truth: files.VersionFiles) -> dict[str, str] | str:
    """sha256 of every file of the version from its bytes (Git blobs, the DVC cache), or why not."""
    store = _store(repo)
    found: dict[str, str] = {}
    for f in truth.files:
        if f.sha256 is not None:
            found[f.path] = f.sha256
            continue
        assert f.obj is not None and store is not None
        path = store.path(f.obj)
        if not path.is_file():
            return (
                f"{f.path} ({f.obj.md5}) is not in the DVC cache, so its bytes cannot be checked: "
                f"`git modelver reproduce {truth.release.tag} --to <dir>`, then verify with --files <dir>"
            )
        found[f.path] = digests.sha256_file(path)
    return found


def _one(
    stored: branch.Stored,
    truth: files.VersionFiles,
    trusted: oms.Trust,
    folder: Path | None,
    actual: dict[str, str] | str | None,
) -> Check:
    where = stored.path
    try:
        said = claim(stored.bundle)
    except NotAnAttestation as exc:
        return Check(NAME, False, f"{where}: {exc}")
    problems = binding_problems(said.binding, truth.binding)
    problems += resource_problems(said.resources, truth.known, truth.folders)
    if problems:
        return Check(NAME, False, f"{where} does not describe {truth.release.tag}: {'; '.join(problems[:3])}")
    if trusted.empty:
        return Check(
            NAME,
            False,
            f"{where}: signed by {signer_hint(stored.bundle)}, but no attestation trust is configured: "
            f"`git config --add {CONFIG}.publicKey <public.pem>` (or certificateChain, identity and issuer)",
        )
    if isinstance(actual, str):
        return Check(NAME, False, f"{where}: {actual}")
    verdict = oms.verify(stored.bundle, trusted, folder=folder, digests=actual)
    if not verdict.ok:
        return Check(
            NAME,
            False,
            f"{where} ({signer_hint(stored.bundle)}) did not verify: {'; '.join(verdict.errors[:3])}",
        )
    against = f"the files in {folder}" if folder is not None else "Git and the DVC cache"
    return Check(
        NAME,
        True,
        f"{where}: signed by {verdict.signer}; {len(said.resources)} file(s) match {against}; "
        "bound to this tag, commit and digests",
    )


def with_attestations(
    repo: Repo,
    targets: list[tuple[System, list[Release]]],
    reports: list[VersionReport],
    *,
    keys: list[str],
    folder: Path | None,
    required: bool,
) -> list[VersionReport]:
    """``reports`` (one per release of ``targets``, in order) with each version's attestation checks."""
    if not required and folder is None and not present(repo):
        return reports  # no attestations branch: nothing to read, the signing library not imported
    trusted = trust(repo, keys)
    releases = [(sys_, r) for sys_, rs in targets for r in rs]
    return [
        VersionReport(
            report.tag, [*report.checks, *checks(repo, sys_, r, trusted, folder=folder, required=required)]
        )
        for (sys_, r), report in zip(releases, reports, strict=True)
    ]
