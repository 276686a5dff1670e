"""Publishing (SPEC §5 ``push``): DVC objects first, then the branch, the version tags and the ledger.

Each step runs only when the one before it succeeded, and the DVC remote is asked whether it really
holds every object before any ref moves: a tag never reaches the Git remote before its weights.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver import advice
from gitmodelver.dvc import dvcops
from gitmodelver.errors import CheckFailed, Conflict, ModelverError, UsageError
from gitmodelver.gitstore import proc, system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.verify import manifest_of

LEDGER = "refs/heads/modelver/ledger"
Say = Callable[[str], None]


@dataclass
class Pushed:
    remote: str
    dvc_remote: str | None = None
    objects: int = 0  # DVC objects uploaded
    branch: str | None = None
    tags: list[str] = field(default_factory=list)
    ledger: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "dvc_remote": self.dvc_remote,
            "objects_pushed": self.objects,
            "branch": self.branch,
            "tags": self.tags,
            "ledger": self.ledger,
        }


def _quiet(_: str) -> None:
    return None


def _unreachable(repo: Repo, remote: str, said: str) -> UsageError:
    """Exit 2, "cannot reach": the remote is named wrong or is not there, which is no missing object."""
    if "/" in remote or ":" in remote or remote.startswith((".", "~")):
        if ":" not in remote and not os.path.exists(os.path.expanduser(remote)):
            # a folder that is not there yet: make it the bare repository to push to
            return UsageError(
                f"cannot reach Git remote {remote}: {said}", fix=f"git init --bare {shlex.quote(remote)}"
            )
        return UsageError(f"cannot reach Git remote {remote}: {said}")
    if remote not in repo.run("remote", check=False).out.split():
        return UsageError(
            f"cannot reach Git remote {remote}: {said}; no remote of that name is configured "
            f"(add it with `git remote add {remote} <url>`, or name a configured one: `git remote -v`)"
        )
    return UsageError(f"cannot reach Git remote {remote}: {said}")


def remote_refs(repo: Repo, remote: str) -> dict[str, str]:
    """What the Git remote has: ref name -> object id (peeled ``^{}`` entries dropped)."""
    result = repo.run("ls-remote", "--tags", "--heads", remote, check=False)
    if result.returncode != 0:
        raise _unreachable(repo, remote, git_error(result))
    refs = {}
    for line in result.out.splitlines():
        oid, _, name = line.partition("\t")
        if name and not name.endswith("^{}"):
            refs[name] = oid
    return refs


def pending(repo: Repo, systems: Iterable[System], there: dict[str, str]) -> list[tuple[System, Release]]:
    """Version tags the remote lacks; a remote tag of the same name on another object is a conflict."""
    todo, moved = [], []
    for sys_ in systems:
        for release in versions.list_releases(repo, sys_.name):
            remote_oid = there.get(versions.TAG_PREFIX + release.tag)
            if remote_oid is None:
                todo.append((sys_, release))
            elif remote_oid != release.target:
                moved.append(release.tag)
    if moved:
        raise Conflict(
            f"the remote has {', '.join(moved[:3])} on another object: a version tag was moved on one side; "
            "nothing was pushed (compare with `git ls-remote --tags` and `git modelver verify --all`)"
        )
    return todo


def outputs_at(repo: Repo, sys_: System, commit: pygit2.Commit, label: str) -> list[dvcops.Output]:
    tree = repo.commit_tree(commit, label)
    m = manifest_of(repo, sys_, commit, label)
    if m is None:
        return []
    outs, unresolved = dvcops.outputs(tree, m)
    if unresolved:
        raise UsageError(f"{label}: {unresolved[0]} (`git modelver verify {label}` checks the whole version)")
    return outs


def push_objects(repo: Repo, outs: list[dvcops.Output], dvc_remote: str | None, say: Say) -> int:
    """Upload what the DVC remote lacks and confirm it arrived; returns the number of objects sent."""
    if not outs:
        return 0
    store = dvcops.Store.open(repo.root)
    reader = dvcops.remote_reader(repo.root, dvc_remote)
    objs: dict[tuple[str, str], dvcops.Obj] = {}
    for out in outs:
        expanded, known = store.expand(out, remote_read=reader)
        if not known:
            raise CheckFailed(
                f"{out.ref}: {out.path} ({out.md5}) is neither in the DVC cache nor on the DVC remote: "
                f"fetch it from where it is (`dvc fetch {out.target}`), or restore the weights and "
                "`dvc add` them"
            )
        objs.update({(o.md5, o.hash_name): o for o in expanded})
    missing = dvcops.remote_missing(repo.root, objs.values(), dvc_remote)
    url = dvcops.remote_url(repo.root, dvc_remote)
    if missing:
        absent = [o for o in missing if not store.has(o)]
        if absent:
            o = absent[0]
            raise CheckFailed(
                f"{o.owner}: DVC object {o.md5} is neither in the cache nor on {url}; nothing was pushed "
                "(fetch it from where it is, `dvc fetch -T`, or re-add the weights with `dvc add`)"
            )
        say(f"pushing {len(missing)} DVC object(s) to {url}")
        dvcops.push(repo.root, missing, dvc_remote)
        still = dvcops.remote_missing(repo.root, missing, dvc_remote)
        if still:
            raise CheckFailed(
                f"{len(still)} DVC object(s) did not reach {url} (e.g. {still[0].owner}); "
                "no Git ref was pushed (check your access to the DVC remote, then `git modelver push` again)"
            )
    return len(missing)


def _git_push(repo: Repo, remote: str, refspecs: list[str], what: str, *, atomic: bool = False) -> None:
    args = ["push", "--porcelain", *(["--atomic"] if atomic else []), remote, *refspecs]
    result = repo.run(*args, check=False)
    if result.returncode == 0:
        return
    refusal = server_refusal(result, remote, what)
    if refusal is not None:
        raise refusal
    raise CheckFailed(
        f"pushing {what} to {remote} failed: {git_error(result)} (`git fetch {remote}`, merge or rebase, "
        f"then `git modelver push {remote}`)"
    )


_FIX_AT_END = re.compile(r"\s*\(fix:\s(.+)\)$")  # a hook's "(fix: COMMAND)" at the end of its line


def server_said(err: str) -> list[str]:
    """What the server's hooks said (git shows it as ``remote: …`` lines, padded with spaces), without
    the closing count gitmodelver's own hook adds."""
    lines = [line.removeprefix("remote:").strip() for line in err.splitlines() if line.startswith("remote:")]
    return [line for line in lines if line and not line.startswith("modelver: ")]


def server_refusal(result: proc.ProcessResult, remote: str, what: str) -> ServerRefused | None:
    """The server's own reasons, in one line, when a hook there refused the push; its fixes become ours.

    Fetching and merging, the advice for a branch that moved on, is no answer to a server's rule.
    """
    if "[remote rejected]" not in result.out and "hook declined" not in result.err:
        return None
    said = server_said(result.err)
    if not said:
        return None
    reasons, fixes = [], []
    for line in said:
        found = _FIX_AT_END.search(line)
        if found:
            fixes.append(found.group(1))
            line = line[: found.start()]
        reasons.append(line)
    return ServerRefused(
        f"{remote} refused {what}: {'; '.join(reasons)}",
        reasons,
        fix=advice.chain(*dict.fromkeys(fixes)) if fixes else None,
    )


class ServerRefused(CheckFailed):
    """A hook on the Git server refused the push; ``problems`` holds each reason it gave."""

    def __init__(self, message: str, problems: list[str], *, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.problems = problems


def git_error(result: proc.ProcessResult) -> str:
    """What a failed git command says went wrong: a rejected ref (``--porcelain`` marks it ``!``), else
    git's first ``fatal:``/``error:`` line; its last line is often the tail of a longer explanation."""
    rejected = [ln.strip() for ln in result.out.splitlines() if ln.startswith("!")]
    if rejected:
        return rejected[0]
    return proc.first_error_line(result.err or result.out)


def push(
    repo: Repo,
    systems: list[System],
    remote: str = "origin",
    *,
    dvc_remote: str | None = None,
    say: Say = _quiet,
) -> Pushed:
    """DVC objects (unpublished versions, HEAD), then branch, tags and ledger; stops at the first failure."""
    there = remote_refs(repo, remote)
    todo = pending(repo, systems, there)
    head = repo.head()
    outs: list[dvcops.Output] = []
    for sys_, release in todo:
        commit = repo.git[pygit2.Oid(hex=release.commit)]
        assert isinstance(commit, pygit2.Commit)
        outs += outputs_at(repo, sys_, commit, release.tag)
    if head is not None:
        for sys_ in systems:
            outs += outputs_at(repo, sys_, head, "HEAD")
    result = Pushed(remote, dvc_remote)
    result.objects = push_objects(repo, _unique(outs), dvc_remote, say)
    ref = repo.head_ref()
    if head is not None and ref != "HEAD":
        say(f"pushing {ref.removeprefix('refs/heads/')} to {remote}")
        _git_push(repo, remote, [f"{ref}:{ref}"], f"branch {ref.removeprefix('refs/heads/')}")
        result.branch = ref.removeprefix("refs/heads/")
    if todo:
        tags = [f"{versions.TAG_PREFIX}{r.tag}" for _, r in todo]
        say(f"pushing {len(tags)} version tag(s) to {remote}")
        _git_push(repo, remote, [f"{t}:{t}" for t in tags], f"{len(tags)} version tag(s)", atomic=True)
        result.tags = [r.tag for _, r in todo]
    if repo.git.references.get(LEDGER) is not None:
        _git_push(repo, remote, [f"{LEDGER}:{LEDGER}"], "the ledger")
        result.ledger = True
    return result


def _unique(outs: list[dvcops.Output]) -> list[dvcops.Output]:
    return list({(o.md5, o.hash_name): o for o in outs}.values())


def push_release(repo: Repo, remote: str, tag: str, *, say: Say = _quiet) -> None:
    """``release --push``: the version's DVC objects, then branch and tag in one atomic push."""
    release = versions.resolve(repo, tag)
    commit = repo.commit(release.commit)
    sys_ = system.of_release(repo, release.name, commit, tag)
    try:
        push_objects(repo, outputs_at(repo, sys_, commit, tag), None, say)
    except ModelverError as exc:
        raise CheckFailed(
            f"{tag} was released but not pushed: {exc.message}; once that is fixed, "
            f"`git modelver push {remote}` pushes it",
            fix=exc.fix,
        ) from exc
    ref = repo.head_ref()
    refspecs = [f"{ref}:{ref}"] if ref != "HEAD" else []
    tag_ref = f"{versions.TAG_PREFIX}{tag}"
    _git_push(repo, remote, [*refspecs, f"{tag_ref}:{tag_ref}"], f"{tag} and its branch", atomic=True)
