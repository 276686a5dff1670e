"""What a push may do to the attestations branch: add signatures, nothing else.

Between the old and the new tip (a fast-forward), no file disappears and none changes; every new file is
``NAME@vX.Y.Z/<16 hex>.sig`` named after its bytes, holds an OMS statement whose ``modelver`` binding is
the version Git holds under that tag (tag object, commit, digests derived from its manifest, evaluation
results), and signs exactly that version's files (Git-tracked ones by digest; DVC ones by name, their
bytes being on the DVC remote, not here). The tag may be created by the same push. Signatures are not
checked against any trust here: that is ``verify``'s part, with the trust its user configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from gitmodelver.attest import branch, files
from gitmodelver.attest.statement import (
    REF,
    NotAnAttestation,
    binding_problems,
    claim,
    path_problem,
    resource_problems,
)
from gitmodelver.core.semver import parse_tag
from gitmodelver.errors import ModelverError
from gitmodelver.gitstore import system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

RESTORE = f"git fetch origin +{REF}:{REF}"  # the pusher's branch back to the remote's
TAGS = "refs/tags/"


@dataclass(frozen=True)
class Finding:
    message: str
    fix: str | None = RESTORE


def check(repo: Repo, old: str | None, new: str, deleted: bool, tags: Mapping[str, str]) -> list[Finding]:
    """Every reason the branch may not move from ``old`` (None: created) to ``new``.

    ``tags``: the version tags the same push creates (``refs/tags/NAME@vX.Y.Z`` -> object id)."""
    if deleted:
        return [Finding("deleting the attestations branch is refused: signatures are permanent")]
    if old is not None and pygit2.Oid(hex=old) not in repo.git.odb:
        return []  # on a client, a remote state never fetched: the server judges
    if old is not None and not repo.is_ancestor(pygit2.Oid(hex=old), pygit2.Oid(hex=new)):
        return [
            Finding(f"non-fast-forward update refused ({old[:12]} -> {new[:12]}): the branch is append-only")
        ]
    before = branch.files(repo, repo.git[pygit2.Oid(hex=old)].peel(pygit2.Commit)) if old else {}
    after = branch.files(repo, repo.git[pygit2.Oid(hex=new)].peel(pygit2.Commit))
    found = [
        Finding(f"{path}: deleting a signature is refused: the attestations branch is append-only")
        for path in sorted(before.keys() - after.keys())
    ]
    found += [
        Finding(f"{path}: editing a signature is refused: add a new one beside it instead")
        for path in sorted(before.keys() & after.keys())
        if before[path] != after[path]
    ]
    for path in sorted(after.keys() - before.keys()):
        found += [Finding(f"{path}: {why}") for why in _new_file(repo, path, after[path], tags)]
    return found


def _new_file(repo: Repo, path: str, oid: pygit2.Oid, tags: Mapping[str, str]) -> list[str]:
    data = blob_data(repo.git, oid) or b""
    where = path_problem(path, data)
    if where is not None:
        return [where]
    try:
        said = claim(data)
    except NotAnAttestation as exc:
        return [str(exc)]
    tag = path.split("/", 1)[0]  # the folder names the version; the binding must be that version's
    release = _release(repo, tag, tags)
    if release is None:
        return [f"no version tag {tag} exists here: push the tag first (`git modelver push`)"]
    try:
        commit = repo.commit(release.commit)
        sys_ = system.of_release(repo, release.name, commit, tag)
        truth = files.version_files(repo, sys_, release, None)
    except ModelverError as exc:
        return [f"{tag} cannot be read: {exc.message}"]
    problems = binding_problems(said.binding, truth.binding)
    problems += resource_problems(said.resources, truth.known, truth.folders)
    return [f"does not describe {tag}: {p}" for p in problems]


def _release(repo: Repo, tag: str, tags: Mapping[str, str]) -> versions.Release | None:
    parsed = parse_tag(tag)
    if parsed is None:
        return None
    oid = tags.get(TAGS + tag)
    if oid is None:
        ref = repo.git.references.get(TAGS + tag)
        oid = str(ref.target) if ref is not None else None
    if oid is None:
        return None
    return versions.release_from(repo.git, tag, parsed[0], parsed[1], pygit2.Oid(hex=oid))
