"""The server's rules for shards, through a real pre-receive hook on a bare remote, with real 1000-event
shards (the hook runs in its own process, with the shard size every writer uses): only the last shard
grows, a new one begins after a full one and is named after its first seq, earlier shards never change or
disappear, and an older version's file may be moved into shards once, byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import test_ledger_integrity as integrity
from helpers import GitRepo, ledger_bytes
from hookenv import git
from test_ledger_integrity import LEDGER, RESTORE, craft, file_of, push, rejected, remote_ledger

from gitmodelver.deploy import ledger, shards

# The deployed system pushed to a remote with the server hook, built once; `pushed`: a copy per test.
template, pushed, on_path = integrity.template, integrity.pushed, integrity.on_path
FIRST, NEXT = "events/prod/00000001.jsonl", "events/prod/00001001.jsonl"
LEGACY = "events/prod.jsonl"
ONLY = "only events/<env>/<NNNNNNNN>.jsonl shards belong on the ledger"


def more(data: bytes, count: int, **changes: object) -> bytes:
    """``count`` events after the last of ``data``, as a writer records them (same state, next seq, a second
    later), the first with ``changes``."""
    last = json.loads(data.splitlines()[-1])
    out = []
    for i in range(count):
        moment = dt.datetime.fromisoformat(last["at"].replace("Z", "+00:00")) + dt.timedelta(seconds=1)
        last = {**last, "seq": last["seq"] + 1, "at": ledger.format_time(moment), "reason": "crafted"}
        out.append(ledger.encode({**last, **(changes if i == 0 else {})}))
    return b"".join(out)


def move_to(repo: GitRepo, files: dict[str, bytes | None]) -> str:
    """The local ledger moved to a crafted commit on top of the remote's."""
    commit = craft(repo, files, parent="origin/modelver/ledger")
    repo.git("update-ref", LEDGER, commit)
    return commit


@pytest.fixture(scope="module")
def full(template: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The deployed system with its first shard filled to 1000 events, pushed (the push is accepted)."""
    root = tmp_path_factory.mktemp("full")
    repo = GitRepo(Path(shutil.copytree(template[0], root / "repo", symlinks=True)))
    bare = Path(shutil.copytree(template[1], root / "remote.git", symlinks=True))
    repo.git("remote", "set-url", "origin", str(bare))
    repo.git("fetch", "-q", "origin")
    data = file_of(repo, path=FIRST)
    move_to(repo, {FIRST: data + more(data, shards.SHARD - 2)})
    proc = push(repo, LEDGER)
    assert proc.returncode == 0, proc.stderr
    repo.git("fetch", "-q", "origin")
    return repo.path, bare


@pytest.fixture
def at_full(full: tuple[Path, Path], tmp_path: Path, on_path: Path) -> tuple[GitRepo, Path]:
    repo = GitRepo(Path(shutil.copytree(full[0], tmp_path / "repo", symlinks=True)))
    bare = Path(shutil.copytree(full[1], tmp_path / "remote.git", symlinks=True))
    repo.git("remote", "set-url", "origin", str(bare))
    repo.git("fetch", "-q", "origin")
    return repo, bare


def test_a_shard_fills_then_the_next_begins_and_grows(at_full: tuple[GitRepo, Path]) -> None:
    repo, bare = at_full
    assert file_of(repo, path=FIRST).count(b"\n") == shards.SHARD
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0
    assert json.loads(file_of(repo, path=NEXT))["seq"] == 1001
    proc = push(repo, LEDGER)
    assert proc.returncode == 0, proc.stderr
    assert repo.modelver("deploy", "v1.1.0", "--env", "prod").code == 0
    proc = push(repo, LEDGER)
    assert proc.returncode == 0, proc.stderr
    assert remote_ledger(bare) == repo.git("rev-parse", LEDGER).strip()
    assert [e["seq"] for e in map(json.loads, ledger_bytes(bare, "prod", LEDGER).splitlines())] == list(
        range(1, 1003)
    )


def test_earlier_shards_never_change_nor_disappear(at_full: tuple[GitRepo, Path]) -> None:
    repo, bare = at_full
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0
    assert push(repo, LEDGER).returncode == 0
    repo.git("fetch", "-q", "origin")
    before = remote_ledger(bare)
    first = file_of(repo, path=FIRST)
    lines = first.splitlines(keepends=True)
    edited = (
        b"".join(lines[:4]) + lines[4].replace(b'"actor":"', b'"actor":"Mallory, not ') + b"".join(lines[5:])
    )
    for files, expected in (
        (
            {FIRST: edited},
            f"{FIRST}:5: line 5 of a full shard was edited or deleted: full shards never change",
        ),
        ({FIRST: None}, f"{FIRST}: deleting a shard is refused"),
        ({NEXT: None}, f"{NEXT}: deleting a shard is refused"),
        (
            {FIRST: None, NEXT: None, LEGACY: first + file_of(repo, path=NEXT)},
            f"{LEGACY}: recreating an older version's events file is refused",
        ),
    ):
        move_to(repo, files)
        err = rejected(push(repo, LEDGER))
        assert f"modelver/ledger: {expected}" in err and f"(fix: {RESTORE})" in err
        assert remote_ledger(bare) == before


def _named_wrong(data: bytes) -> dict[str, bytes | None]:
    return {"events/prod/00001002.jsonl": more(data, 1)}


def _gap(data: bytes) -> dict[str, bytes | None]:
    return {NEXT: more(data, 1, seq=1002)}


def _past_full(data: bytes) -> dict[str, bytes | None]:
    return {FIRST: data + more(data, 1)}


def _beside(data: bytes) -> dict[str, bytes | None]:
    return {LEGACY: data + more(data, 1)}


def _instead(data: bytes) -> dict[str, bytes | None]:
    return {FIRST: None, LEGACY: data + more(data, 1)}


def _stray(data: bytes) -> dict[str, bytes | None]:
    return {"events/prod/notes.txt": b"hello\n"}


def _deeper(data: bytes) -> dict[str, bytes | None]:
    return {"events/prod/old/00001001.jsonl": more(data, 1)}


AT_FULL = [  # (change to a full first shard on the remote, what the server says)
    (
        "named after another seq",
        _named_wrong,
        "events/prod/00001002.jsonl: a shard is named after its first "
        "event: this one is seq 1001, 00001001.jsonl",
    ),
    ("a gap in seq across shards", _gap, f"{NEXT}:1: seq 1000, 1002: seq 1001 is missing"),
    ("a shard past full", _past_full, f"{FIRST}:1001: a shard holds 1000 events: this one goes on past them"),
    ("the older file beside", _beside, f"{LEGACY} and events/prod/: both hold prod's events"),
    ("the older file instead", _instead, f"{LEGACY}: recreating an older version's events file is refused"),
    ("no shard name", _stray, f"events/prod/notes.txt: {ONLY}"),
    ("a folder in the shards", _deeper, f"events/prod/old/00001001.jsonl: {ONLY}"),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in AT_FULL], ids=[c[0] for c in AT_FULL])
def test_the_server_refuses_shards_out_of_place(
    at_full: tuple[GitRepo, Path], change: Callable[[bytes], dict[str, bytes | None]], expected: str
) -> None:
    repo, bare = at_full
    before = remote_ledger(bare)
    move_to(repo, change(file_of(repo, path=FIRST)))
    err = rejected(push(repo, LEDGER))
    assert f"modelver/ledger: {expected}" in err and f"(fix: {RESTORE})" in err
    assert remote_ledger(bare) == before


def test_a_new_shard_only_after_a_full_one(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    data = file_of(repo, path=FIRST)
    assert data.count(b"\n") == 2
    move_to(repo, {"events/prod/00000003.jsonl": more(data, 1)})
    err = rejected(push(repo, LEDGER))
    assert (
        "modelver/ledger: events/prod/00000003.jsonl: a shard may begin only when the one before is full: "
        f"{FIRST} holds 2 of 1000 events"
    ) in err
    move_to(repo, {FIRST: data + more(data, 1)})  # the same event where it belongs
    assert push(repo, LEDGER).returncode == 0


def _older_ledger(repo: GitRepo, bare: Path, data: bytes) -> None:
    """The remote and the local ledger as an older version left them: one file, ``data``."""
    git(bare, "update-ref", "-d", LEDGER)
    repo.git("update-ref", LEDGER, craft(repo, {LEGACY: data}, parent=None))
    proc = push(repo, LEDGER)  # a new environment in an older version's file is still accepted
    assert proc.returncode == 0, proc.stderr
    repo.git("fetch", "-q", "origin")


def test_moving_an_older_file_into_shards_is_accepted(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    data = file_of(repo, path=FIRST)
    _older_ledger(repo, bare, data + more(data, shards.SHARD - 3))  # 999 events
    grown = file_of(repo, path=LEGACY)
    move_to(repo, {LEGACY: grown + more(grown, 1)})  # an older writer still appends to it
    assert push(repo, LEDGER).returncode == 0
    older = file_of(repo, path=LEGACY)
    assert older.count(b"\n") == shards.SHARD
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0  # the move, and event 1001
    assert git(repo.path, "ls-tree", "--name-only", f"{LEDGER}:events").stdout.split() == ["prod"]
    proc = push(repo, LEDGER)
    assert proc.returncode == 0, proc.stderr
    assert git(bare, "ls-tree", "-r", "--name-only", LEDGER).stdout.split() == [FIRST, NEXT]
    moved = ledger_bytes(bare, "prod", LEDGER)
    assert moved.startswith(older) and json.loads(moved[len(older) :])["seq"] == 1001
    assert file_of(repo, path=FIRST) == older  # the full first shard is the older file, byte for byte


def test_a_move_that_changes_a_line_or_cuts_elsewhere_is_refused(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    data = file_of(repo, path=FIRST)
    _older_ledger(repo, bare, data)
    before = remote_ledger(bare)
    first, second = data.splitlines(keepends=True)
    edited = first.replace(b'"actor":"', b'"actor":"Mallory, not ') + second
    move_to(repo, {LEGACY: None, FIRST: edited + more(data, 1)})
    err = rejected(push(repo, LEDGER))
    assert f"{LEGACY}:1: moved into events/prod/, line 1 did not stay byte for byte" in err
    move_to(repo, {LEGACY: None, FIRST: first, "events/prod/00000002.jsonl": second})
    err = rejected(push(repo, LEDGER))
    assert f"events/prod/00000002.jsonl: a shard may begin only when the one before is full: {FIRST}" in err
    move_to(repo, {LEGACY: None, FIRST: first + second[:9], "events/prod/00000002.jsonl": second[9:]})
    err = rejected(push(repo, LEDGER))
    assert f"{FIRST}:2: the file was cut into shards inside a line" in err
    move_to(repo, {LEGACY: None})
    assert f"{LEGACY}: deleting an events file is refused" in rejected(push(repo, LEDGER))
    assert remote_ledger(bare) == before
