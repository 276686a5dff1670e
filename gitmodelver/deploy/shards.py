"""Where an environment's events live on the ledger branch: shards of ``SHARD`` events each. Pure: no I/O.

``events/<env>/<NNNNNNNN>.jsonl`` holds the events from seq NNNNNNNN (zero-padded to eight digits) on, at
most ``SHARD`` of them; the shard of seq s starts at ``((s - 1) // SHARD) * SHARD + 1``. Only the last shard
is ever appended to, so an append rewrites one blob of at most ``SHARD`` lines and two small trees (the
environment's folder, one entry per shard, and ``events/``), however long the history.

Shards are cut by count, not by time: a writer knows the shard of the next event from its seq alone, every
shard but the last is full and so never changes (its verdict is remembered by blob id, once), and a reader
finds the shard of a time by a binary search on the shards' first times.

An older version kept an environment's events in one file, ``events/<env>.jsonl`` (``legacy_path``). It is
read as it is; the first append moves its lines into shards (``split``) in the commit that records the event.
"""

from __future__ import annotations

import re

from gitmodelver.deploy.ledger_rules import Problem

SHARD = 1000  # events per shard: an append rewrites at most this many lines
FOLDER = "events"
DIGITS = 8
_PATH = re.compile(r"events/([A-Za-z0-9][A-Za-z0-9._-]*)(?:\.jsonl|/([0-9]{8,})\.jsonl)")


def legacy_path(env: str) -> str:
    """The single file an older version kept the environment's events in."""
    return f"{FOLDER}/{env}.jsonl"


def folder_of(env: str) -> str:
    return f"{FOLDER}/{env}"


def name_of(first: int) -> str:
    return f"{first:0{DIGITS}d}.jsonl"


def shard_path(env: str, first: int) -> str:
    return f"{folder_of(env)}/{name_of(first)}"


def first_of(seq: int) -> int:
    """The first seq of the shard that holds ``seq``."""
    return ((seq - 1) // SHARD) * SHARD + 1


def number(name: str) -> int | None:
    """The first seq a shard's file name says, or None when the name is not one a writer makes."""
    stem = name.removesuffix(".jsonl")
    if stem == name or not stem.isascii() or not stem.isdigit() or int(stem) < 1:
        return None
    return int(stem) if name_of(int(stem)) == name else None


def where(path: str) -> tuple[str, int | None] | None:
    """``(env, first seq)`` for a shard, ``(env, None)`` for an older version's file, None for any other
    path (which has no place on the ledger)."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    if match.group(2) is None:
        return match.group(1), None
    first = number(path.rsplit("/", 1)[1])
    return (match.group(1), first) if first is not None else None


def split(data: bytes) -> list[tuple[int, bytes]]:
    """An older version's file as shards: ``(first seq, bytes)``, the same bytes cut every ``SHARD`` lines.

    ``data`` is a sound file, so its line N is the event of seq N.
    """
    chunks: list[tuple[int, bytes]] = []
    start = 0
    while start < len(data):
        end = start
        for _ in range(SHARD):
            newline = data.find(b"\n", end)
            end = len(data) if newline == -1 else newline + 1
            if end == len(data):
                break
        chunks.append((len(chunks) * SHARD + 1, data[start:end]))
        start = end
    return chunks


def shape(path: str, first: int | None, follows: int | None, lines: int, last: bool) -> list[Problem]:
    """What is wrong with where a shard sits: its name, and how full it is.

    ``first``: the seq its name says (None: an older version's single file, which has no such rules);
    ``follows``: the seq of the event before it (0 for the first shard; None when that line is unreadable);
    ``lines``: how many events it holds; ``last``: whether it is the environment's last shard.
    """
    if first is None:
        return []
    found = []
    if follows is not None and first != follows + 1:
        found.append(
            Problem(
                path,
                1,
                f"the shard's name says it starts at seq {first}, but it follows seq {follows}: "
                f"a shard is named after its first event ({name_of(follows + 1)})",
            )
        )
    if lines == 0:
        found.append(Problem(path, 0, f"an empty shard: a shard holds 1 to {SHARD} events"))
    elif lines > SHARD:
        found.append(Problem(path, SHARD + 1, f"a shard holds {SHARD} events: this one goes on past them"))
    elif not last and lines < SHARD:
        found.append(
            Problem(
                path,
                lines,
                f"the shard ends after {lines} events, yet another follows it: "
                f"only the last shard holds fewer than {SHARD}",
            )
        )
    return found
