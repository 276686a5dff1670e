"""Routing requests to versions as the ledger splits traffic (SPEC §7).

Assignment is sticky: a stable hash of the request key (CRC-32, then a multiplicative mix; never Python's
salted ``hash()``) picks a bucket out of 10,000, so the same key gets the same version in every process.
The split is re-read when the ledger ref moves, checked at most once per ``refresh_interval`` seconds.

With ``remote``, a serving process on any machine follows the ledger that machine's deployments are pushed
to: each check fetches the remote's ledger first. When the remote cannot be reached, the last split read
stays in force (requests keep being served) and ``stale_seconds`` says for how long it has not been
confirmed; while it can be reached, the split is at most ``refresh_interval`` plus one fetch behind it.
"""

from __future__ import annotations

import bisect
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodelver.deploy.ledger import Ledger, check_env
from gitmodelver.deploy.sync import RemoteLedger, tracking
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo

if TYPE_CHECKING:
    from gitmodelver.dvc.loading import LoadedVersion

BUCKETS = 10_000
_MIX = 0x9E3779B1  # Knuth's multiplicative constant: spreads CRC's low-entropy bits over the range


def bucket(key: str | bytes) -> int:
    """The key's bucket in [0, BUCKETS): the same in every process and on every machine."""
    data = key.encode("utf-8") if isinstance(key, str) else key
    return (((zlib.crc32(data) * _MIX) & 0xFFFFFFFF) * BUCKETS) >> 32


def table(traffic: dict[str, float], candidate: str | None = None) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Cumulative bucket bounds for the split; the candidate takes the top buckets.

    Keeping the candidate last means that as its share grows, keys only ever move to it: a user who saw
    the canary keeps seeing it through every step.
    """
    order = sorted(traffic, key=lambda tag: (tag == candidate, tag))
    shares = [(tag, float(traffic[tag])) for tag in order if float(traffic[tag]) > 0]
    total = sum(pct for _, pct in shares)
    bounds, tags, running = [], [], 0.0
    for tag, pct in shares:
        running += pct
        bounds.append(round(running / total * BUCKETS))
        tags.append(tag)
    if bounds:
        bounds[-1] = BUCKETS
    return tuple(bounds), tuple(tags)


class Router:
    """Routes request keys to the versions the ledger's traffic split for ``env`` names.

    A broken ledger (a line of the environment's events malformed, edited, deleted or out of sequence)
    raises ``gitmodelver.errors.BrokenLedger`` (a ``CheckFailed``; its message names the file and line,
    its ``fix`` the command that restores a sound ledger) from the constructor, ``refresh()``,
    ``traffic`` and ``route()`` (when it refreshes): never a ``KeyError`` or a ``JSONDecodeError``, and
    never a table built from a broken file: a failed refresh leaves the table as it was and is tried
    again after ``refresh_interval``.
    """

    def __init__(
        self,
        repo: str | Path | Repo = ".",
        env: str = "prod",
        *,
        refresh_interval: float = 1.0,
        verify: bool = True,
        remote: str | None = None,
    ) -> None:
        self._repo = repo if isinstance(repo, Repo) else Repo(repo)
        self._ledger = Ledger(self._repo)
        self._remote = RemoteLedger(self._ledger, remote) if remote is not None else None
        self._confirmed = time.monotonic()
        self.last_fetch_error: str | None = None
        self.env = check_env(env)
        self.refresh_interval = refresh_interval
        self._verify = verify
        self._lock = threading.Lock()
        self._versions: dict[str, LoadedVersion] = {}
        self._tip: object = None
        self._checked = 0.0
        self._table: tuple[tuple[int, ...], tuple[str, ...]] = ((), ())
        self.refresh(force=True)

    @property
    def traffic(self) -> dict[str, float]:
        """The split in the ledger now (the remote's as last fetched, with ``remote``); read afresh."""
        tip = self._ledger.tip() if self._remote is None else self._fetched()
        event = self._ledger.last(self.env, tip) if tip is not None else None
        return event.traffic if event else {}

    def _fetched(self) -> Any:
        assert self._remote is not None
        ref = self._repo.git.references.get(tracking(self._remote.remote))
        return ref.target if ref is not None else None

    @property
    def stale_seconds(self) -> float:
        """How long ago the split was last confirmed against the ledger (the remote's, with ``remote``)."""
        return time.monotonic() - self._confirmed

    def _source(self) -> Any:
        """The ledger tip to read: the remote's, fetched now (the last one fetched when it cannot be)."""
        if self._remote is None:
            return self._ledger.tip()
        try:
            tip = self._remote.fetch()
        except UsageError as exc:
            self.last_fetch_error = exc.message
            return self._fetched()
        self.last_fetch_error = None
        return tip

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the split if the ledger moved; True when it did. BrokenLedger: see the class."""
        with self._lock:
            self._checked = time.monotonic()
            tip = self._source()
            if self.last_fetch_error is None:
                self._confirmed = self._checked
            if tip == self._tip and not force:
                return False
            event = self._ledger.last(self.env, tip) if tip is not None else None
            self._table = table(event.traffic, event.get("candidate")) if event else ((), ())
            self._tip = tip
            return True

    def route(self, key: str | bytes) -> LoadedVersion:
        """The version that serves this request key."""
        if time.monotonic() - self._checked > self.refresh_interval:
            self.refresh()
        bounds, tags = self._table
        if not tags:
            raise UsageError(f"nothing serves in {self.env}: `git modelver deploy` a version there first")
        tag = tags[bisect.bisect_right(bounds, bucket(key))]
        version = self._versions.get(tag)
        return version if version is not None else self._load(tag)

    def _load(self, tag: str) -> LoadedVersion:
        from gitmodelver.dvc.loading import load

        with self._lock:
            if tag not in self._versions:
                self._versions[tag] = load(tag, self._repo, verify=self._verify)
            return self._versions[tag]
