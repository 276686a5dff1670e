"""The deployments ledger: branch ``modelver/ledger``, one commit and one JSON line per event (SPEC §7).

An environment's events live in shards of ``shards.SHARD`` lines, ``events/<env>/<NNNNNNNN>.jsonl``: an
append rewrites the last shard only (or starts the next), so its cost does not grow with the history.
Appends are compare-and-swap on the branch (``git update-ref NEW OLD``) with retries, so concurrent writers
never lose an event and ``seq`` stays contiguous per environment. An older version's single file
``events/<env>.jsonl`` is read as it is and cut into shards by the first append.

Reads go through pygit2, and every read checks the environment's files against the ledger's rules
(``ledger_rules``, ``shards.shape``) before trusting a byte of them: a line edited, deleted, forged or out
of sequence, or a shard misnamed or missing, raises ``BrokenLedger`` naming the file and line, with the
command that restores a sound ledger. Verdicts are remembered by blob id (``ledger_sound``), so each line
is judged once, not at every ``asof``; reads then touch only the shards they need.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver import advice
from gitmodelver.deploy import ledger_rules as rules
from gitmodelver.deploy import shards
from gitmodelver.deploy.ledger_files import File, Listing, envs, listing, written
from gitmodelver.deploy.ledger_rules import Tail
from gitmodelver.deploy.ledger_search import at_or_before, last_line, last_starting_by
from gitmodelver.deploy.ledger_sound import (
    Sound,
    Verdict,
    judge,
    last_sound,
    load_sound,
    sound_at,
    split_sounds,
    store_sound,
    trusted,
)
from gitmodelver.errors import BrokenLedger, Conflict, UsageError
from gitmodelver.gitstore.proc import first_error_line
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

REF = "refs/heads/modelver/ledger"
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
RETRY_SECONDS = 30.0
_LOCK = re.compile(r"Unable to create '([^']+\.lock)': File exists")


def check_env(env: str) -> str:
    if not ENV_NAME.match(env):
        raise UsageError(f"'{env}' is not a valid environment name ([A-Za-z0-9][A-Za-z0-9._-]*)")
    return env


def now() -> str:
    """UTC, fixed width, so the strings sort as the times do."""
    return format_time(dt.datetime.now(dt.UTC))


def format_time(moment: dt.datetime) -> str:
    # Four-digit years always: strftime's %Y writes year 99 as "99", which would sort after "2026".
    utc = moment.astimezone(dt.UTC)
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ")


def parse_when(text: str) -> str:
    """ISO 8601 (a naive time is UTC) or ``@unixtime``, as the ledger's sortable UTC form."""
    raw = text.strip()
    if raw.lower() == "now":
        return now()
    try:
        if raw.startswith("@"):
            moment = dt.datetime.fromtimestamp(float(raw[1:]), dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise UsageError(
            f"'{text}' is not a time: use ISO 8601 (2026-11-27T09:30:00Z), @unixtime or now"
        ) from exc
    return format_time(moment)


@dataclass(frozen=True)
class Event:
    data: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.data["seq"])

    @property
    def at(self) -> str:
        return str(self.data["at"])

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def traffic(self) -> dict[str, float]:
        return dict(self.data.get("traffic") or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def encode(event: Mapping[str, Any]) -> bytes:
    """One line; ``at`` first (asof finds it without parsing), the rest in sorted order."""
    ordered = {"at": event["at"], **{k: event[k] for k in sorted(event) if k != "at"}}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


class Ledger:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._sound: dict[str, Sound] = {}  # path -> the last version of that file judged sound here
        self._loaded = False  # whether the verdicts stored under the state dir are in ``_sound``
        self._broken: dict[str, BrokenLedger] = {}  # an environment's files (``Listing.key``) -> its error

    # ---------------------------------------------------------------- reading

    def tip(self) -> pygit2.Oid | None:
        try:
            return self.repo.git.references[REF].target  # type: ignore[return-value]
        except KeyError:
            return None

    def _tree(self, tip: pygit2.Oid | None) -> pygit2.Tree | None:
        tip = tip if tip is not None else self.tip()
        return self.repo.git[tip].peel(pygit2.Tree) if tip is not None else None

    def _checked(self, env: str, tip: pygit2.Oid | None = None) -> Verdict:
        """The environment's files at ``tip`` (default: the branch), judged: BrokenLedger when a line or a
        shard breaks the ledger's rules."""
        return self._check(listing(self._tree(tip), env))

    def envs(self) -> list[str]:
        return envs(self._tree(None))

    def place(self, env: str) -> str:
        """Where the environment's events are (``events/<env>/``, or an older version's single file)."""
        return listing(self._tree(None), env).place

    def scan(self, env: str) -> Verdict:
        """Every line of every file of the environment read and judged, problems listed rather than raised
        (``events`` holds the well-shaped ones)."""
        return self._judge(listing(self._tree(None), env), keep=True)

    def events(self, env: str) -> list[Event]:
        found = self.scan(env)
        if found.problems:
            raise self.broken(env, found.problems)
        return [Event(event) for event in found.events]

    def last(self, env: str, tip: pygit2.Oid | None = None) -> Event | None:
        """The environment's last event: only its last shard is read."""
        return _last_of(self._checked(env, tip), self._data)

    def first_at(self, env: str) -> str | None:
        """The time of the environment's first event (None: no event yet)."""
        found = self._checked(env)
        files = found.listing.files
        return (found.sounds[files[0].path].first_at or None) if files else None

    def asof(self, env: str, when: str) -> Event | None:
        """The last event at or before ``when``: a binary search over the shards by their first times, then
        over the lines of the one it falls in. No replay, and one shard read."""
        found = self._checked(env)
        index = self._shard_of(found, when)
        if index < 0:
            return None
        line = at_or_before(self._data(found, found.listing.files[index]), when)
        return Event(json.loads(line)) if line is not None else None

    def between(self, env: str, since: str, until: str) -> list[Event]:
        """The events of ``[since, until]``, after the one in force at ``since`` (the split a period starts
        with): only the shards overlapping the period are read."""
        found = self._checked(env)
        files = found.listing.files
        first, last = max(self._shard_of(found, since), 0), self._shard_of(found, until)
        events = [
            Event(json.loads(line))
            for file in files[first : last + 1]
            for line in self._data(found, file).splitlines()
        ]
        start = max((i for i, e in enumerate(events) if e.at <= since), default=0)
        return [e for e in events[start:] if e.at <= until]

    def _shard_of(self, found: Verdict, when: str) -> int:
        files = found.listing.files
        return last_starting_by(len(files), lambda i: found.sounds[files[i].path].first_at, when)

    def _data(self, found: Verdict, file: File) -> bytes:
        """A judged file's bytes: read once, whether judging read it already or trusted it unread."""
        if file.path not in found.read:
            found.read[file.path] = blob_data(self.repo.git, file.oid) or b""
        return found.read[file.path]

    # ---------------------------------------------------------------- checking

    def _judge(self, found: Listing, *, keep: bool = False) -> Verdict:
        """Judge the files, paying for each line once: a blob already judged sound (in this process, or
        recorded under the state dir) is trusted, and a file that extends one is judged from there."""
        if not self._loaded and not trusted(found, self._sound):
            self._sound = {**load_sound(self.repo), **self._sound}
            self._loaded = True
        verdict = judge(self.repo, found, self._sound, keep=keep)
        if any(self._sound.get(path) != sound for path, sound in verdict.sounds.items()):
            self._remember(found.env, verdict.sounds)
        return verdict

    def _check(self, found: Listing) -> Verdict:
        if found.key in self._broken:  # judged already: a Router retrying every second pays nothing
            raise self._broken[found.key]
        verdict = self._judge(found)
        if verdict.problems:
            self._broken[found.key] = self.broken(found.env, verdict.problems)
            raise self._broken[found.key]
        return verdict

    def _remember(self, env: str, sounds: Mapping[str, Sound]) -> None:
        self._sound.update(sounds)
        if any(path.startswith(shards.folder_of(env) + "/") for path in sounds):
            self._sound.pop(shards.legacy_path(env), None)  # moved into shards
        store_sound(self.repo, env, sounds)

    def broken(self, env: str, problems: Sequence[rules.Problem]) -> BrokenLedger:
        """The error for a broken environment, with the one command that brings back a sound ledger: the
        copy of a remote where it is sound, else the branch moved back to its last sound commit."""
        tip = self.tip()
        listed = [str(p) for p in problems]
        if tip is None:
            return BrokenLedger(listed)
        known = {**load_sound(self.repo), **self._sound}
        for name in self.repo.git.references:
            remote = _remote_of(name)
            target = self.repo.git.references[name].resolve().target if remote else None
            if remote and sound_at(self.repo, target, env, known):  # type: ignore[arg-type]
                return BrokenLedger(listed, fix=f"git fetch {shlex.quote(remote)} +{REF}:{REF}")
        good, dropped = last_sound(self.repo, tip, env, known)
        if good is None and self.envs() == [env]:  # nothing else lives on the ledger to lose
            return BrokenLedger(listed, fix=f"git update-ref -d {REF} {tip}", note="; it never was sound")
        if good is None:
            note = "; it never was sound: restore modelver/ledger from a backup or your Git host"
            return BrokenLedger(listed, note=note)
        note = f"; the ledger was sound at {str(good)[:12]}, {dropped} commit(s) ago"
        return BrokenLedger(listed, fix=f"git update-ref {REF} {good} {tip}", note=note)

    # ---------------------------------------------------------------- writing

    def append(self, env: str, build: Callable[[Event | None], dict[str, Any]], message: str) -> Event:
        """Append the event ``build`` makes from the current last one; retried until the CAS holds."""
        check_env(env)
        deadline = time.monotonic() + RETRY_SECONDS
        attempt = 0
        while True:
            tip = self.tip()
            # No tip means no ledger yet, not "whatever the branch is now": another writer may create it.
            found = self._check(listing(self._tree(tip) if tip is not None else None, env))
            previous = _last_of(found, self._data)
            event = build(previous)
            event["seq"] = previous.seq + 1 if previous else 1
            event["env"] = env
            # Times never go backwards in an environment: asof binary-searches it, and a clock may lag.
            event["at"] = max(event.get("at") or now(), previous.at if previous else "")
            failure = self._commit(tip, found, event, message)
            if failure is None:
                return Event(event)
            if self.tip() == tip:  # nobody else moved the ref: this is not a race, retrying will not help
                raise _failed(env, failure)
            attempt += 1
            if time.monotonic() > deadline:
                raise Conflict(
                    f"the ledger kept moving for {RETRY_SECONDS:g}s; the event for {env} was not recorded: "
                    "run the command again"
                )
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))

    def _commit(
        self, tip: pygit2.Oid | None, found: Verdict, event: dict[str, Any], message: str
    ) -> str | None:
        """Write the event's commit on ``tip`` (whose files for the environment are ``found``) and move the
        ref from ``tip`` to it; None, or why it failed. The event goes into the last shard, or starts the
        next one when that is full; an older version's single file is cut into shards in the same commit."""
        git, env, seq = self.repo.git, found.listing.env, int(event["seq"])
        first = shards.first_of(seq)
        line = encode(event)
        # What we write obeys the rules the server and every reader apply: a bad event is a bug here.
        start = Tail(seq - first, found.tail.seq, found.tail.at)
        added = rules.scan(line, shards.shard_path(env, first), env, start)
        if added.problems:
            raise UsageError(
                f"refusing to record an event that breaks the ledger's rules: {added.problems[0]}"
            )
        contents = _shards_after(found, first, line, self._data)
        blobs = {number: (git.create_blob(data), data) for number, data in contents.items()}
        tree = written(
            git, self._tree(tip) if tip is not None else None, env, {n: b[0] for n, b in blobs.items()}
        )
        actor = _signature(self.repo)
        commit = git.create_commit(None, actor, actor, message, tree, [tip] if tip is not None else [])
        old_tip = str(tip) if tip is not None else "0" * 40
        result = self.repo.run("update-ref", "-m", message, REF, str(commit), old_tip, check=False)
        if result.returncode != 0:
            return first_error_line(result.err)
        if found.listing.legacy is not None:
            self._remember(env, split_sounds(env, blobs))
        else:
            path = shards.shard_path(env, first)
            before = (
                found.sounds[path].before if path in found.sounds else Tail(0, found.tail.seq, found.tail.at)
            )
            first_at = found.sounds[path].first_at if path in found.sounds else str(event["at"])
            sound = Sound(str(blobs[first][0]), len(contents[first]), before, added.tail, first_at)
            self._remember(env, {**found.sounds, path: sound})
        return None


def _last_of(found: Verdict, data: Callable[[Verdict, File], bytes]) -> Event | None:
    """The last event of judged files: the last line of the last one."""
    if not found.listing.files:
        return None
    line = last_line(data(found, found.listing.files[-1]))
    return Event(json.loads(line)) if line else None


def _shards_after(
    found: Verdict, first: int, line: bytes, data: Callable[[Verdict, File], bytes]
) -> dict[int, bytes]:
    """The shards an append writes (first seq -> content): the last one with the line added, or a new one
    holding it; with an older version's single file, all of its lines cut into shards and the line."""
    legacy = found.listing.legacy
    if legacy is not None:
        return dict(shards.split(data(found, legacy) + line))
    files = found.listing.files
    if files and files[-1].first == first:
        return {first: data(found, files[-1]) + line}
    return {first: line}


def _failed(env: str, failure: str) -> Conflict:
    """Moving the ref failed with nobody else moving it: most often a lock file a crashed git left."""
    lock = _LOCK.search(failure)
    if lock is None:
        return Conflict(
            f"recording the {env} event failed: {failure}; if git names a .lock file and no other git "
            "command is running, remove it"
        )
    return Conflict(
        f"recording the {env} event failed: {failure}; if no other git command is running, that is a "
        "stale .lock file",
        fix=advice.command("rm", lock.group(1)),
    )


def _remote_of(ref: str) -> str | None:
    """The remote whose copy of the ledger ``ref`` is (refs/remotes/REMOTE/modelver/ledger), if it is one."""
    suffix = "/" + REF.removeprefix("refs/heads/")
    if ref.startswith("refs/remotes/") and ref.endswith(suffix):
        return ref.removeprefix("refs/remotes/").removesuffix(suffix) or None
    return None


def _signature(repo: Repo) -> pygit2.Signature:
    name = os.environ.get("GIT_COMMITTER_NAME") or repo.config("user.name") or "gitmodelver"
    email = os.environ.get("GIT_COMMITTER_EMAIL") or repo.config("user.email") or "gitmodelver@localhost"
    return pygit2.Signature(name, email)


def actor(repo: Repo) -> str:
    name = os.environ.get("GIT_AUTHOR_NAME") or repo.config("user.name") or os.environ.get("USER", "unknown")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or repo.config("user.email")
    return f"{name} <{email}>" if email else name
