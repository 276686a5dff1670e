"""The attestations branch (``refs/heads/modelver/attestations``): one folder per version tag, one file
per signature (``NAME@vX.Y.Z/<16 hex>.sig``, named after its bytes). It only grows: a version gains
signatures (a second signer, a re-signing after a key rotation) without its tag moving, and no signature
is ever edited or removed (``guard`` holds the server to that). Updates are compare-and-swap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitmodelver.attest.statement import REF, SIGNATURES, path_for
from gitmodelver.errors import Conflict
from gitmodelver.gitstore.proc import first_error_line
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

ZERO = "0" * 40


@dataclass(frozen=True)
class Stored:
    path: str
    bundle: bytes


def tip(repo: Repo, ref: str = REF) -> pygit2.Commit | None:
    found = repo.git.references.get(ref)
    if found is None:
        return None
    obj = repo.git.get(found.target)
    return obj.peel(pygit2.Commit) if obj is not None else None


def files(repo: Repo, commit: pygit2.Commit | None) -> dict[str, pygit2.Oid]:
    """Every file on the branch at ``commit``: path -> blob id."""
    if commit is None:
        return {}
    found: dict[str, pygit2.Oid] = {}
    todo: list[tuple[str, pygit2.Tree]] = [("", commit.tree)]
    while todo:
        prefix, tree = todo.pop()
        for entry in tree:
            obj = repo.git[entry.id]
            if isinstance(obj, pygit2.Tree):
                todo.append((f"{prefix}{entry.name}/", obj))
            else:
                found[f"{prefix}{entry.name}"] = entry.id
    return found


def of_version(repo: Repo, tag: str) -> list[Stored]:
    """The signatures the branch holds for ``tag``, by name."""
    head = tip(repo)
    if head is None:
        return []
    try:
        folder = head.tree[tag]
    except KeyError:
        return []
    if not isinstance(folder, pygit2.Tree):
        return []
    found = []
    for entry in sorted(folder, key=lambda e: e.name or ""):
        data = blob_data(repo.git, entry.id)
        if data is not None:
            found.append(Stored(f"{tag}/{entry.name}", data))
    return found


def _actor(repo: Repo) -> pygit2.Signature:
    name = os.environ.get("GIT_COMMITTER_NAME") or repo.config("user.name") or "gitmodelver"
    email = os.environ.get("GIT_COMMITTER_EMAIL") or repo.config("user.email") or "gitmodelver@localhost"
    return pygit2.Signature(name, email)


def _tree_with(repo: Repo, base: pygit2.Tree | None, added: Mapping[str, bytes]) -> pygit2.Oid:
    index = pygit2.Index()
    if base is not None:
        index.read_tree(base)
    for path, data in added.items():
        index.add(pygit2.IndexEntry(path, repo.git.create_blob(data), pygit2.enums.FileMode.BLOB))
    return index.write_tree(repo.git)


def add(repo: Repo, tag: str, bundle: bytes, message: str) -> tuple[str, bool]:
    """Record ``bundle`` for ``tag``; (its path, False when the branch held it already)."""
    path = path_for(tag, bundle)
    head = tip(repo)
    if head is not None and path in files(repo, head):
        return path, False
    tree = _tree_with(repo, head.tree if head is not None else None, {path: bundle})
    actor = _actor(repo)
    commit = repo.git.create_commit(None, actor, actor, message, tree, [head.id] if head is not None else [])
    _move(repo, REF, str(commit), str(head.id) if head is not None else ZERO, message)
    return path, True


def _move(repo: Repo, ref: str, new: str, old: str, message: str) -> None:
    result = repo.run("update-ref", "-m", message, ref, new, old, check=False)
    if result.returncode != 0:
        raise Conflict(
            f"{ref} moved while recording the attestation ({first_error_line(result.err)}); nothing was "
            "changed: run the command again"
        )


def merge(repo: Repo, theirs: pygit2.Commit) -> pygit2.Oid:
    """Bring the remote's signatures into the local branch: a fast-forward, or a merge whose tree is the
    union of both (one path, one content: names are the bundles' digests, so the two sides never clash).
    Returns the new local tip."""
    head = tip(repo)
    if head is None or repo.is_ancestor(head.id, theirs.id):
        _move(
            repo,
            REF,
            str(theirs.id),
            str(head.id) if head is not None else ZERO,
            "attestations: fast-forward",
        )
        return theirs.id
    if repo.is_ancestor(theirs.id, head.id):
        return head.id
    mine = files(repo, head)
    extra = {p: blob_data(repo.git, oid) or b"" for p, oid in files(repo, theirs).items() if p not in mine}
    tree = _tree_with(repo, head.tree, extra)
    actor = _actor(repo)
    message = "attestations: merge the remote's signatures"
    commit = repo.git.create_commit(None, actor, actor, message, tree, [head.id, theirs.id])
    _move(repo, REF, str(commit), str(head.id), message)
    return commit


def export(repo: Repo, tag: str, dest: Path) -> list[Path]:
    """Write ``tag``'s signatures into ``dest/.modelver-attestations/`` (a folder every signature ignores),
    for ``model_signing verify … --signature`` on a reproduced folder."""
    stored = of_version(repo, tag)
    folder = dest / SIGNATURES
    written = []
    for s in stored:
        folder.mkdir(exist_ok=True)
        path = folder / s.path.replace("/", ".", 1)
        path.write_bytes(s.bundle)
        written.append(path)
    return written
