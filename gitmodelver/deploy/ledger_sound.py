"""Verdicts on the ledger's events files, remembered by blob id so each line is judged once; and, for a
broken file, the last commit at which it was sound.

A file judged sound (``ledger_rules.scan`` found nothing) is recorded with its size and how it ends, in
this process and under the repository's state dir. The next read of the same blob trusts the verdict; a
file that starts with a sound one byte for byte (the next append) is judged from where that one ended.
The record is a shortcut, never a source of truth: lose it and the file is simply judged again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver.deploy import ledger_rules as rules
from gitmodelver.deploy.ledger_rules import Tail
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

SOUND_FILE = "ledger-sound.json"
LEDGER_FOLDER = "events"


@dataclass(frozen=True)
class Sound:
    """A version of one environment's file known to obey the ledger's rules, and where it ends."""

    blob: str = ""
    size: int = 0
    tail: Tail = Tail()

    def prefix_of(self, data: bytes) -> bool:
        """Whether ``data`` starts with this very file (then only the rest needs judging)."""
        if not self.blob or len(data) <= self.size or data[self.size - 1 : self.size] != b"\n":
            return False
        return blob_id(memoryview(data)[: self.size], len(self.blob)) == self.blob

    def as_json(self) -> dict[str, Any]:
        tail = self.tail
        return {"blob": self.blob, "size": self.size, "lines": tail.lines, "seq": tail.seq, "at": tail.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sound:
        tail = Tail(int(data["lines"]), int(data["seq"]), str(data["at"]))
        return cls(str(data["blob"]), int(data["size"]), tail)


def blob_id(data: memoryview, hex_length: int) -> str:
    """Git's id for a blob of ``data``, without copying it (SHA-1, or SHA-256 repositories)."""
    digest = hashlib.sha1(usedforsecurity=False) if hex_length == 40 else hashlib.sha256()
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def load_sound(repo: Repo) -> dict[str, Sound]:
    try:
        stored = json.loads((repo.state_dir() / SOUND_FILE).read_text("utf-8"))
        return {str(env): Sound.from_json(entry) for env, entry in stored.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # none yet, or unreadable: the file is judged again


def store_sound(repo: Repo, env: str, sound: Sound) -> None:
    """Remember the verdict for the next command; a read-only repository only loses the shortcut."""
    entries = {name: s.as_json() for name, s in load_sound(repo).items()}
    entries[env] = sound.as_json()
    try:
        folder = repo.state_dir()
        tmp = folder / f"{SOUND_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(entries, sort_keys=True), "utf-8")
        os.replace(tmp, folder / SOUND_FILE)
    except OSError:
        pass


# --------------------------------------------------------------------------- finding a sound state


def file_at(repo: Repo, commit: pygit2.Oid, path: str) -> tuple[bytes, str | None]:
    """The file at ``path`` in the commit, and its blob id (``b"", None`` when there is none)."""
    oid = _blob_at(repo, commit, path)
    return (blob_data(repo.git, oid) or b"", str(oid)) if oid is not None else (b"", None)


def _blob_at(repo: Repo, commit: pygit2.Oid, path: str) -> pygit2.Oid | None:
    tree = repo.git[commit].peel(pygit2.Tree)
    return tree[path].id if path in tree else None


def sound_at(repo: Repo, commit: pygit2.Oid, env: str, known: Sound | None = None) -> bool:
    """Whether the environment's file at ``commit`` obeys the rules (judged from ``known`` when it can)."""
    path = f"{LEDGER_FOLDER}/{env}.jsonl"
    data, blob = file_at(repo, commit, path)
    if blob is None or (known is not None and blob == known.blob):
        return True
    base = known if known is not None and known.prefix_of(data) else Sound()
    return rules.scan(data[base.size :], path, env, base.tail).ok


def last_sound(repo: Repo, tip: pygit2.Oid, env: str, known: Sound | None) -> tuple[pygit2.Oid | None, int]:
    """The newest commit of the ledger (first parents) whose file for ``env`` is sound, and how many
    commits after it the tip is; None when even the first commit is broken.

    A binary search: once a line is broken, every later append keeps it broken. It starts from the newest
    commit holding the file last remembered sound (found by blob id, no reading), so the commits it
    judges extend that file and cost only their new lines.
    """
    walker = repo.git.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    chain = [commit.id for commit in walker][::-1]  # oldest first; the tip (broken) last
    path = f"{LEDGER_FOLDER}/{env}.jsonl"
    lo, hi = -1, len(chain) - 1
    if known is not None and known.blob:
        lo = next((i for i in range(hi - 1, -1, -1) if str(_blob_at(repo, chain[i], path)) == known.blob), -1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sound_at(repo, chain[mid], env, known):
            lo = mid
        else:
            hi = mid
    return (chain[lo] if lo >= 0 else None), len(chain) - 1 - lo
