"""Verdicts on the ledger's events files, remembered by blob id so each line is judged once; and, for a
broken ledger, the last commit at which an environment was sound.

A file (a shard, or an older version's single file) judged sound when it follows a given end of the file
before it (``before``: that one's last seq and time) is recorded with its size, its first time and how it
ends, in this process and under the repository's state dir. The next read of the same blob after the same
end trusts the verdict without reading it; a blob that starts with a sound one byte for byte (the last
shard after an append) is judged from where that one ended. Every shard but the last is full and never
changes, so an environment whose earlier shards were judged costs only its last shard's new lines.
The record is a shortcut, never a source of truth: lose it (or keep one an older version wrote) and the
files are simply judged again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver.deploy import ledger_rules as rules
from gitmodelver.deploy import shards
from gitmodelver.deploy.ledger_files import File, Listing, listing
from gitmodelver.deploy.ledger_rules import Tail
from gitmodelver.deploy.ledger_search import first_line, time_of
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

SOUND_FILE = "ledger-sound.json"
FORMAT = 2  # one entry per file path (1: one per environment's single file), ignored when it differs


@dataclass(frozen=True)
class Sound:
    """A version of one events file known to obey the ledger's rules after ``before``, and where it ends."""

    blob: str = ""
    size: int = 0
    before: Tail = Tail()  # the seq and time the file before it ended at (lines unused)
    tail: Tail = Tail()
    first_at: str = ""  # the time of its first event: where a search by time looks

    def follows(self, before: Tail) -> bool:
        return self.before.seq == before.seq and self.before.at == before.at

    def prefix_of(self, data: bytes) -> bool:
        """Whether ``data`` starts with this very file (then only the rest needs judging)."""
        if not self.blob or len(data) <= self.size or data[self.size - 1 : self.size] != b"\n":
            return False
        return blob_id(memoryview(data)[: self.size], len(self.blob)) == self.blob

    def as_json(self) -> dict[str, Any]:
        tail, before = self.tail, self.before
        return {
            "blob": self.blob,
            "size": self.size,
            "after": [before.seq, before.at],
            "lines": tail.lines,
            "seq": tail.seq,
            "at": tail.at,
            "first_at": self.first_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sound:
        seq, at = data["after"]
        before = Tail(0, int(seq), str(at))
        tail = Tail(int(data["lines"]), int(data["seq"]), str(data["at"]))
        return cls(str(data["blob"]), int(data["size"]), before, tail, str(data["first_at"]))


def blob_id(data: memoryview, hex_length: int) -> str:
    """Git's id for a blob of ``data``, without copying it (SHA-1, or SHA-256 repositories)."""
    digest = hashlib.sha1(usedforsecurity=False) if hex_length == 40 else hashlib.sha256()
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def load_sound(repo: Repo) -> dict[str, Sound]:
    """Path -> the last version of that file judged sound here."""
    try:
        stored = json.loads((repo.state_dir() / SOUND_FILE).read_text("utf-8"))
        if stored.get("format") != FORMAT:
            return {}
        return {str(path): Sound.from_json(entry) for path, entry in stored["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # none yet, written by another version, or unreadable: the files are judged again


def store_sound(repo: Repo, env: str, sounds: Mapping[str, Sound]) -> None:
    """Remember the verdicts on ``env``'s files for the next command (an older version's single file is
    forgotten once its shards are remembered); a read-only repository only loses the shortcut."""
    entries = {path: sound.as_json() for path, sound in load_sound(repo).items()}
    entries.update({path: sound.as_json() for path, sound in sounds.items()})
    if any(path.startswith(shards.folder_of(env) + "/") for path in sounds):
        entries.pop(shards.legacy_path(env), None)
    try:
        folder = repo.state_dir()
        tmp = folder / f"{SOUND_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"format": FORMAT, "files": entries}, sort_keys=True), "utf-8")
        os.replace(tmp, folder / SOUND_FILE)
    except OSError:
        pass


# --------------------------------------------------------------------------- judging


@dataclass
class Verdict:
    """An environment's files judged in order: the problems found, and a verdict per sound file."""

    listing: Listing
    problems: list[rules.Problem] = field(default_factory=list)
    sounds: dict[str, Sound] = field(default_factory=dict)  # path -> its verdict, for every sound file
    read: dict[str, bytes] = field(default_factory=dict)  # the blobs read on the way, by path
    events: list[dict[str, Any]] = field(default_factory=list)  # with ``keep``: every well-shaped event
    tail: Tail = Tail()  # where the environment ends

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(repo: Repo, found: Listing, known: Mapping[str, Sound], *, keep: bool = False) -> Verdict:
    """Judge every file of ``found`` in seq order, each continuing the one before it: a file whose blob is
    known sound after the same end is trusted unread. ``keep``: read every file and collect its events."""
    verdict = Verdict(found, list(found.problems))
    tail = Tail()
    for index, file in enumerate(found.files):
        before = Tail(0, tail.seq, tail.at)
        sound = known.get(file.path)
        if not keep and sound is not None and sound.blob == str(file.oid) and sound.follows(before):
            verdict.sounds[file.path] = sound
            tail = sound.tail
        else:
            tail = _judge_file(repo, file, before, sound, verdict, keep)
        last = index == len(found.files) - 1
        verdict.problems += shards.shape(file.path, file.first, before.seq, tail.lines, last)
    verdict.tail = tail
    return verdict


def _judge_file(
    repo: Repo, file: File, before: Tail, known: Sound | None, verdict: Verdict, keep: bool
) -> Tail:
    """Judge one file after ``before`` (from where ``known`` ended, when the file extends it); its end."""
    data = blob_data(repo.git, file.oid) or b""
    verdict.read[file.path] = data
    extends = not keep and known is not None and known.follows(before) and known.prefix_of(data)
    base = known if extends else None
    start = base.tail if base is not None else before
    found = rules.scan(data[base.size :] if base else data, file.path, verdict.listing.env, start, keep=keep)
    verdict.problems += found.problems
    verdict.events += found.events
    if not found.problems and before.seq is not None:
        first_at = base.first_at if base is not None else _first_at(data)
        verdict.sounds[file.path] = Sound(str(file.oid), len(data), before, found.tail, first_at)
    return found.tail


def _first_at(data: bytes) -> str:
    return time_of(first_line(data)) if data else ""


def split_sounds(env: str, blobs: Mapping[int, tuple[pygit2.Oid, bytes]]) -> dict[str, Sound]:
    """The verdicts on the shards an older version's sound file was cut into (``shards.split``): its line
    N is seq N, so each shard's ends are read off its first and last lines, nothing judged again."""
    sounds, before = {}, Tail()
    for first, (oid, data) in sorted(blobs.items()):
        lines = data.count(b"\n")
        body = data.rstrip(b"\n")
        tail = Tail(lines, first + lines - 1, time_of(body[body.rfind(b"\n") + 1 :]))
        sounds[shards.shard_path(env, first)] = Sound(str(oid), len(data), before, tail, _first_at(data))
        before = Tail(0, tail.seq, tail.at)
    return sounds


# --------------------------------------------------------------------------- finding a sound state


def _listing_at(repo: Repo, commit: pygit2.Oid, env: str) -> Listing:
    return listing(repo.git[commit].peel(pygit2.Tree), env)


def trusted(found: Listing, known: Mapping[str, Sound]) -> bool:
    """Whether every file of ``found`` is known sound by its blob id alone: nothing read."""
    if found.problems:
        return False
    before = Tail()
    for index, file in enumerate(found.files):
        sound = known.get(file.path)
        if sound is None or sound.blob != str(file.oid) or not sound.follows(before):
            return False
        if shards.shape(file.path, file.first, before.seq, sound.tail.lines, index == len(found.files) - 1):
            return False
        before = Tail(0, sound.tail.seq, sound.tail.at)
    return True


def sound_at(repo: Repo, commit: pygit2.Oid, env: str, known: Mapping[str, Sound]) -> bool:
    """Whether the environment's files at ``commit`` obey the rules (judged from ``known`` when it can)."""
    return judge(repo, _listing_at(repo, commit, env), known).ok


def last_sound(
    repo: Repo, tip: pygit2.Oid, env: str, known: Mapping[str, Sound]
) -> tuple[pygit2.Oid | None, int]:
    """The newest commit of the ledger (first parents) at which ``env`` is sound, and how many commits
    after it the tip is; None when even the first commit is broken.

    A binary search: once a line is broken, every later append (or the move into shards) keeps it broken.
    It starts from the newest commit whose files are all remembered sound (by blob id, no reading), so
    the commits it judges extend those files and cost only their new lines.
    """
    walker = repo.git.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    chain = [commit.id for commit in walker][::-1]  # oldest first; the tip (broken) last
    lo, hi = -1, len(chain) - 1
    if known:
        lo = next((i for i in range(hi - 1, -1, -1) if trusted(_listing_at(repo, chain[i], env), known)), -1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sound_at(repo, chain[mid], env, known):
            lo = mid
        else:
            hi = mid
    return (chain[lo] if lo >= 0 else None), len(chain) - 1 - lo
