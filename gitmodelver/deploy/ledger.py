"""The deployments ledger: branch ``modelver/ledger``, one commit and one JSON line per event (SPEC §7).

Appends are compare-and-swap on the branch (``git update-ref NEW OLD``) with retries, so concurrent writers
never lose an event and ``seq`` stays contiguous per environment. Reads go through pygit2, and every read
checks the file against the ledger's rules (``ledger_rules``) before trusting a byte of it: a line edited,
deleted, forged or out of sequence raises ``BrokenLedger`` naming the file and line, with the command that
restores a sound ledger. The verdict is remembered by blob id (``ledger_sound``), so each line is judged
once, not at every ``asof``.
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
from gitmodelver.deploy.ledger_sound import Sound, file_at, last_sound, load_sound, sound_at, store_sound
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


def path_of(env: str) -> str:
    return f"events/{env}.jsonl"


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
        self._sound: dict[str, Sound] = {}  # env -> the last blob of its file judged sound here
        self._broken: dict[str, BrokenLedger] = {}  # blob -> the error it raised

    # ---------------------------------------------------------------- reading

    def tip(self) -> pygit2.Oid | None:
        try:
            return self.repo.git.references[REF].target  # type: ignore[return-value]
        except KeyError:
            return None

    def _tree(self, tip: pygit2.Oid | None) -> pygit2.Tree | None:
        tip = tip if tip is not None else self.tip()
        return self.repo.git[tip].peel(pygit2.Tree) if tip is not None else None

    def _file(self, env: str, tip: pygit2.Oid | None) -> tuple[bytes, str | None]:
        """The environment's events file at ``tip`` (default: the branch), unchecked, and its blob id."""
        tip = tip if tip is not None else self.tip()
        return file_at(self.repo, tip, path_of(env)) if tip is not None else (b"", None)

    def blob(self, env: str, tip: pygit2.Oid | None = None) -> bytes:
        """The environment's events file, checked: BrokenLedger when a line breaks the ledger's rules."""
        tree = self._tree(tip)
        entry = tree[path_of(env)] if tree is not None and path_of(env) in tree else None
        if entry is None:
            return b""
        blob = str(entry.id)
        if blob in self._broken:  # judged already: a Router retrying every second pays nothing
            raise self._broken[blob]
        data = blob_data(self.repo.git, entry.id) or b""
        self._check(env, data, blob)
        return data

    def envs(self) -> list[str]:
        tree = self._tree(None)
        if tree is None or "events" not in tree:
            return []
        folder = self.repo.git[tree["events"].id]
        if not isinstance(folder, pygit2.Tree):
            return []
        return sorted(str(e.name)[: -len(".jsonl")] for e in folder if str(e.name).endswith(".jsonl"))

    def scan(self, env: str) -> rules.Scan:
        """Every line of the environment's file read and judged, problems listed rather than raised."""
        data, _ = self._file(env, None)
        return rules.scan(data, path_of(env), env, keep=True)

    def events(self, env: str) -> list[Event]:
        found = self.scan(env)
        if found.problems:
            raise self.broken(env, found.problems)
        return [Event(event) for event in found.events]

    def last(self, env: str, tip: pygit2.Oid | None = None) -> Event | None:
        data = self.blob(env, tip)
        end = data.rstrip(b"\n")
        if not end:
            return None
        return Event(json.loads(end[end.rfind(b"\n") + 1 :]))

    def asof(self, env: str, when: str) -> Event | None:
        """The last event at or before ``when``: a binary search over the lines, no replay."""
        return at_or_before(self.blob(env), when)

    # ---------------------------------------------------------------- checking

    def _check(self, env: str, data: bytes, blob: str) -> Sound:
        """Judge the file, paying for each line once: a blob already judged sound (in this process, or
        recorded under the state dir) is trusted, and a file that extends one is judged from there."""
        known = self._sound.get(env)
        if known is None or known.blob != blob:
            known = load_sound(self.repo).get(env, known)
        if known is not None and known.blob == blob:
            self._sound[env] = known
            return known
        base = known if known is not None and known.prefix_of(data) else Sound()
        found = rules.scan(data[base.size :], path_of(env), env, base.tail)
        if found.problems:
            self._broken[blob] = self.broken(env, found.problems)
            raise self._broken[blob]
        return self._remember(env, Sound(blob, len(data), found.tail))

    def _remember(self, env: str, sound: Sound) -> Sound:
        self._sound[env] = sound
        store_sound(self.repo, env, sound)
        return sound

    def broken(self, env: str, problems: Sequence[rules.Problem]) -> BrokenLedger:
        """The error for a broken file, with the one command that brings back a sound ledger: the copy of
        a remote whose file is sound, else the branch moved back to its last sound commit."""
        tip = self.tip()
        listed = [str(p) for p in problems]
        if tip is None:
            return BrokenLedger(listed)
        known = self._sound.get(env) or load_sound(self.repo).get(env)
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
            # None means no ledger yet, not "whatever the branch is now": another writer may create it.
            previous = self.last(env, tip) if tip is not None else None
            event = build(previous)
            event["seq"] = previous.seq + 1 if previous else 1
            event["env"] = env
            # Times never go backwards in a file: asof binary-searches it, and a writer's clock may lag.
            event["at"] = max(event.get("at") or now(), previous.at if previous else "")
            failure = self._commit(tip, env, event, message)
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

    def _commit(self, tip: pygit2.Oid | None, env: str, event: dict[str, Any], message: str) -> str | None:
        """Write the event's commit and move the ref from ``tip`` to it; None, or why it failed."""
        git = self.repo.git
        old, old_blob = self._file(env, tip) if tip is not None else (b"", None)
        base = self._check(env, old, old_blob) if old_blob is not None else Sound()
        line = encode(event)
        # What we write obeys the rules the server and every reader apply: a bad event is a bug here.
        added = rules.scan(line, path_of(env), env, base.tail)
        if added.problems:
            raise UsageError(
                f"refusing to record an event that breaks the ledger's rules: {added.problems[0]}"
            )
        data = old + line
        blob = git.create_blob(data)
        base_tree = self._tree(tip) if tip is not None else None
        index = pygit2.Index()
        if base_tree is not None:
            index.read_tree(base_tree)
        index.add(pygit2.IndexEntry(path_of(env), blob, pygit2.enums.FileMode.BLOB))
        tree = index.write_tree(git)
        actor = _signature(self.repo)
        commit = git.create_commit(None, actor, actor, message, tree, [tip] if tip is not None else [])
        old_tip = str(tip) if tip is not None else "0" * 40
        result = self.repo.run("update-ref", "-m", message, REF, str(commit), old_tip, check=False)
        if result.returncode != 0:
            return first_error_line(result.err)
        self._remember(env, Sound(str(blob), len(data), added.tail))
        return None


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


_AT = re.compile(rb'\{"at":"([^"]*)"')


def _line_at(data: bytes, pos: int) -> tuple[int, int]:
    """The bounds of the line containing byte ``pos``."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return start, (len(data) if end == -1 else end)


def _time_of(line: bytes) -> bytes:
    """The line's ``at``: found without parsing in what ``encode`` writes, parsed in any other order."""
    match = _AT.match(line)
    return match.group(1) if match else str(json.loads(line)["at"]).encode()


def at_or_before(data: bytes, when: str) -> Event | None:
    """Binary search on byte offsets: lines are in time order, and ``at`` strings sort as times do.

    ``data`` is a checked file: every line an event, none empty, times never going backwards.
    """
    key = when.encode()
    lo, hi = 0, len(data)  # both always at the start of a line
    best: tuple[int, int] | None = None
    while lo < hi:
        start, end = _line_at(data, (lo + hi) // 2)
        if _time_of(data[start:end]) <= key:
            best = (start, end)
            lo = end + 1
        else:
            hi = start
    if best is None:
        return None
    return Event(json.loads(data[best[0] : best[1]]))
