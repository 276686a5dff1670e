"""The deployments ledger: branch ``modelver/ledger``, one commit and one JSON line per event (SPEC §7).

Appends are compare-and-swap on the branch (``git update-ref NEW OLD``) with retries, so concurrent writers
never lose an event and ``seq`` stays contiguous per environment. Reads go through pygit2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver.errors import Conflict, UsageError
from gitmodelver.gitstore.proc import first_error_line
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

REF = "refs/heads/modelver/ledger"
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
RETRY_SECONDS = 30.0


def check_env(env: str) -> str:
    if not ENV_NAME.match(env):
        raise UsageError(f"'{env}' is not a valid environment name ([A-Za-z0-9][A-Za-z0-9._-]*)")
    return env


def path_of(env: str) -> str:
    return f"events/{env}.jsonl"


def now() -> str:
    """UTC, fixed width, so the strings sort as the times do."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
            f"'{text}' is not a time", fix="use ISO 8601 (2026-11-27T09:30:00Z), @unixtime or now"
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

    # ---------------------------------------------------------------- reading

    def tip(self) -> pygit2.Oid | None:
        try:
            return self.repo.git.references[REF].target  # type: ignore[return-value]
        except KeyError:
            return None

    def _tree(self, tip: pygit2.Oid | None) -> pygit2.Tree | None:
        tip = tip if tip is not None else self.tip()
        return self.repo.git[tip].peel(pygit2.Tree) if tip is not None else None

    def blob(self, env: str, tip: pygit2.Oid | None = None) -> bytes:
        tree = self._tree(tip)
        if tree is None or path_of(env) not in tree:
            return b""
        return blob_data(self.repo.git, tree[path_of(env)].id) or b""

    def envs(self) -> list[str]:
        tree = self._tree(None)
        if tree is None or "events" not in tree:
            return []
        folder = self.repo.git[tree["events"].id]
        if not isinstance(folder, pygit2.Tree):
            return []
        return sorted(str(e.name)[: -len(".jsonl")] for e in folder if str(e.name).endswith(".jsonl"))

    def events(self, env: str) -> list[Event]:
        return [Event(json.loads(line)) for line in self.blob(env).splitlines() if line.strip()]

    def last(self, env: str, tip: pygit2.Oid | None = None) -> Event | None:
        data = self.blob(env, tip)
        end = data.rstrip(b"\n")
        if not end:
            return None
        return Event(json.loads(end[end.rfind(b"\n") + 1 :]))

    def asof(self, env: str, when: str) -> Event | None:
        """The last event at or before ``when``: a binary search over the lines, no replay."""
        return at_or_before(self.blob(env), when)

    # ---------------------------------------------------------------- writing

    def append(self, env: str, build: Callable[[Event | None], dict[str, Any]], message: str) -> Event:
        """Append the event ``build`` makes from the current last one; retried until the CAS holds."""
        check_env(env)
        deadline = time.monotonic() + RETRY_SECONDS
        attempt = 0
        while True:
            tip = self.tip()
            previous = self.last(env, tip)
            event = build(previous)
            event["seq"] = previous.seq + 1 if previous else 1
            event["env"] = env
            # Times never go backwards in a file: asof binary-searches it, and a writer's clock may lag.
            event["at"] = max(event.get("at") or now(), previous.at if previous else "")
            failure = self._commit(tip, env, event, message)
            if failure is None:
                return Event(event)
            if self.tip() == tip:  # nobody else moved the ref: this is not a race, retrying will not help
                raise Conflict(
                    f"recording the {env} event failed: {failure}",
                    fix="if no other git command is running, remove the stale .lock file git names",
                )
            attempt += 1
            if time.monotonic() > deadline:
                raise Conflict(
                    f"the ledger kept moving; event for {env} not recorded", fix="retry the command"
                )
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))

    def _commit(self, tip: pygit2.Oid | None, env: str, event: dict[str, Any], message: str) -> str | None:
        """Write the event's commit and move the ref from ``tip`` to it; None, or why it failed."""
        git = self.repo.git
        data = self.blob(env, tip) + encode(event)
        blob = git.create_blob(data)
        base = self._tree(tip) if tip is not None else None
        index = pygit2.Index()
        if base is not None:
            index.read_tree(base)
        index.add(pygit2.IndexEntry(path_of(env), blob, pygit2.enums.FileMode.BLOB))
        tree = index.write_tree(git)
        actor = _signature(self.repo)
        commit = git.create_commit(None, actor, actor, message, tree, [tip] if tip is not None else [])
        old = str(tip) if tip is not None else "0" * 40
        result = self.repo.run("update-ref", "-m", message, REF, str(commit), old, check=False)
        return None if result.returncode == 0 else first_error_line(result.err)


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


def at_or_before(data: bytes, when: str) -> Event | None:
    """Binary search on byte offsets: lines are in time order, and ``at`` strings sort as times do."""
    key = when.encode()
    lo, hi = 0, len(data)
    best: tuple[int, int] | None = None
    while lo < hi:
        mid = (lo + hi) // 2
        start, end = _line_at(data, mid)
        match = _AT.match(data, start, end)
        if match is None or start == end:
            hi = start if start < hi else mid
            if start == end and end < len(data):
                lo = end + 1
            continue
        if match.group(1) <= key:
            best = (start, end)
            lo = end + 1
        else:
            hi = start
    if best is None:
        return None
    return Event(json.loads(data[best[0] : best[1]]))
