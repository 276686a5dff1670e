"""Attestations travel with ``push``: the remote's signatures are fetched and merged first (a version may
have gained one elsewhere), then the branch goes up as a fast-forward, after the version tags it names."""

from __future__ import annotations

from dataclasses import dataclass

from gitmodelver.attest import branch
from gitmodelver.attest.statement import REF
from gitmodelver.dvc.push import git_error, server_refusal
from gitmodelver.errors import CheckFailed
from gitmodelver.gitstore.repo import Repo


@dataclass(frozen=True)
class Synced:
    fetched: int  # signatures the remote had that this clone lacked
    pushed: bool


def tracking(remote: str) -> str:
    return f"refs/remotes/{remote}/{REF.removeprefix('refs/heads/')}"


def fetch(repo: Repo, remote: str) -> int:
    """Bring the remote's signatures into the local branch; how many were new here."""
    listed = repo.run("ls-remote", remote, REF, check=False)
    if listed.returncode != 0 or not listed.out.strip():
        return 0
    result = repo.run("fetch", "--no-tags", remote, f"+{REF}:{tracking(remote)}", check=False)
    if result.returncode != 0:
        raise CheckFailed(f"fetching {REF} from {remote} failed: {git_error(result)}")
    theirs = branch.tip(repo, tracking(remote))
    if theirs is None:
        return 0
    before = set(branch.files(repo, branch.tip(repo)))
    branch.merge(repo, theirs)
    return len(set(branch.files(repo, branch.tip(repo))) - before)


def publish(repo: Repo, remote: str) -> Synced | None:
    """Fetch and merge the remote's signatures, then push the branch; None when neither side has any."""
    fetched = fetch(repo, remote)
    mine = branch.tip(repo)
    if mine is None:
        return None
    theirs = branch.tip(repo, tracking(remote))
    if theirs is not None and theirs.id == mine.id:
        return Synced(fetched, False)
    result = repo.run("push", "--porcelain", remote, f"{REF}:{REF}", check=False)
    if result.returncode != 0:
        refusal = server_refusal(result, remote, "the attestations")
        if refusal is not None:
            raise refusal
        raise CheckFailed(
            f"pushing {REF} to {remote} failed: {git_error(result)}",
            fix=f"git modelver push {remote}",
        )
    repo.run("update-ref", tracking(remote), str(mine.id), check=False)
    return Synced(fetched, True)
