"""The ledger of a remote: many machines deploying through one Git host.

Every event is appended on top of the remote's ledger, never beside it: fetch the remote's branch, bring
the local one to it, append (the event is built from the last event *on the remote*, so a rollout step is
judged against the state it acts on), and push. A push refused because another machine appended first is
not an error: the local event is withdrawn, and the whole append is done again on the new tip, built
afresh (a decision the new state no longer allows fails as it would have locally), with a random backoff,
until it lands or ``RETRY_SECONDS`` pass. The remote's branch is the one order every clone agrees on:
seq numbers stay contiguous, no event is lost or recorded twice.

The local branch may hold events the remote lacks (deploys made offline): they are pushed first, as they
are. When both hold events the other lacks, nothing is guessed: the command stops and says which.
"""

from __future__ import annotations

import random
import shlex
import time
from collections.abc import Callable
from typing import Any

import pygit2

from gitmodelver.deploy.ledger import REF, Event, Ledger
from gitmodelver.errors import CheckFailed, Conflict, UsageError
from gitmodelver.gitstore.proc import first_error_line
from gitmodelver.gitstore.repo import Repo

RETRY_SECONDS = 600.0  # eight machines deploying at once through a hooked server: p95 about a minute
CONFIG = "modelver.remote"  # git config: the remote deployment commands use when --remote is not given


def remote_of(repo: Repo, asked: str | None) -> str | None:
    """The remote to deploy through: ``--remote``, else ``git config modelver.remote``, else none."""
    name = asked if asked is not None else repo.config(CONFIG)
    if not name:
        return None
    if name not in repo.git.remotes.names():
        raise UsageError(
            f"'{name}' is not a remote of this repository: `git remote -v` lists them, `git remote add "
            f"{name} URL` adds one"
        )
    return name


def tracking(remote: str) -> str:
    """Where the remote's ledger is kept locally (as `git fetch` keeps a remote's branches)."""
    return f"refs/remotes/{remote}/{REF.removeprefix('refs/heads/')}"


class RemoteLedger:
    """Appends that land on ``remote``'s ledger; reads after ``pull`` see what every machine recorded."""

    def __init__(self, book: Ledger, remote: str) -> None:
        self.book = book
        self.repo = book.repo
        self.remote = remote

    def fetch(self) -> pygit2.Oid | None:
        """The remote's ledger tip, fetched (None: the remote has no ledger yet)."""
        spec = f"+{REF}:{tracking(self.remote)}"
        result = self.repo.run("fetch", "--quiet", "--no-tags", self.remote, spec, check=False)
        if result.returncode != 0:
            if "couldn't find remote ref" in result.err:
                self.repo.run("update-ref", "-d", tracking(self.remote), check=False)
                return None
            raise UsageError(
                f"cannot fetch the ledger from {self.remote}: {first_error_line(result.err)}",
                fix=f"git fetch {shlex.quote(self.remote)} {REF}",
            )
        ref = self.repo.git.references.get(tracking(self.remote))
        return ref.target if ref is not None else None  # type: ignore[return-value]

    def pull(self) -> pygit2.Oid | None:
        """Bring the local ledger to the remote's (pushing local events the remote lacks); its tip."""
        theirs = self.fetch()
        ours = self.book.tip()
        if theirs is None or ours == theirs:
            return ours if theirs is None else theirs
        if ours is None or self.repo.is_ancestor(ours, theirs):
            self._move(ours, theirs)
            return theirs
        if self.repo.is_ancestor(theirs, ours):
            refused = self._push(ours)
            if refused is None:
                return ours
            return self.pull()  # the remote moved meanwhile: judge again
        raise Conflict(
            f"the local ledger and {self.remote}'s have each recorded events the other has not: deployment "
            f"events have one order on every machine; `git log --oneline {tracking(self.remote)}..{REF}` "
            "lists the local ones, which must be recorded again after taking the remote's ledger",
            fix=f"git update-ref {REF} {theirs} {ours}",
        )

    def append(self, env: str, build: Callable[[Event | None], dict[str, Any]], message: str) -> Event:
        """Append on top of the remote's ledger and push; redone on the new tip when another machine won."""
        deadline = time.monotonic() + RETRY_SECONDS
        attempt = 0
        while True:
            base = self.pull()
            event = self.book.append(env, build, message)
            mine = self.book.tip()
            assert mine is not None
            refused = self._push(mine)
            if refused is None:
                return event
            self._move(mine, base)  # withdraw it: it is recorded again on whatever the remote holds now
            attempt += 1
            if time.monotonic() > deadline:
                raise Conflict(
                    f"{self.remote}'s ledger kept moving for {RETRY_SECONDS:g}s ({attempt} attempts); the "
                    f"event for {env} was not recorded: run the command again"
                )
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** min(attempt, 6))))

    def _push(self, new: pygit2.Oid) -> str | None:
        """Push ``new`` as the remote's ledger; None when it landed, else why it was turned down because
        the remote moved (any other refusal, such as the server's hook, raises)."""
        result = self.repo.run("push", "--porcelain", self.remote, f"{new}:{REF}", check=False)
        mine = next((line for line in result.out.splitlines() if f":{REF}\t" in line), "")
        if result.returncode == 0:
            self.repo.run("update-ref", tracking(self.remote), str(new), check=False)
            return None
        if _moved(mine, result.err):
            return mine
        reason = _server_reason(result.err) or first_error_line(result.err) or mine.strip()
        raise CheckFailed(
            f"{self.remote} refused the ledger update: {reason}",
            fix=f"git fetch {shlex.quote(self.remote)} +{REF}:{REF}",
        )

    def _move(self, old: pygit2.Oid | None, new: pygit2.Oid | None) -> None:
        """Compare-and-swap the local ledger from ``old`` to ``new`` (None: no ledger)."""
        expected = str(old) if old is not None else "0" * 40
        if new is None:
            result = self.repo.run("update-ref", "-d", REF, expected, check=False)
        else:
            result = self.repo.run("update-ref", REF, str(new), expected, check=False)
        if result.returncode != 0:
            raise Conflict(
                f"the local ledger moved while syncing with {self.remote}: {first_error_line(result.err)}; "
                "run the command again"
            )


def _moved(status: str, err: str) -> bool:
    """Whether git push says another push got there first: turned down as not a fast-forward, or (the two
    pushes crossing on the server) the ref's lock lost to the other one, or the ledger created meanwhile."""
    if "[rejected]" in status:
        return "fetch first" in status or "non-fast-forward" in status
    lost = ("cannot lock ref", "but expected", "reference already exists", "failed to update ref")
    return "[remote rejected]" in status and any(text in status or text in err for text in lost)


def _server_reason(err: str) -> str:
    """What the server's hook said (its ``remote:`` lines), in one line."""
    lines = [line.removeprefix("remote:").strip() for line in err.splitlines() if line.startswith("remote:")]
    return "; ".join(line for line in lines if line)


def connect(book: Ledger, asked: str | None) -> Ledger | RemoteLedger:
    """What deployment commands append through: the remote's ledger (pulled now, so reads see every
    machine's events) when one is named or configured, else the local ledger."""
    name = remote_of(book.repo, asked)
    if name is None:
        return book
    remote = RemoteLedger(book, name)
    remote.pull()
    return remote
