"""The ledger in shards: an append rewrites one shard, reads touch only the shards they need, an older
version's single file is read as it is and moved into shards by the first append, and a broken shard is
named file:line with a fix that works.

Shards hold 3 events here (``shards.SHARD`` patched) so boundaries come after a few appends; the server's
rules with real 1000-line shards are in ``test_ledger_shards_server``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from helpers import MANIFEST, GitRepo, fix_in, ledger_bytes, run_fix, seed

from gitmodelver.commands import completion
from gitmodelver.deploy import deployments, ledger, shards
from gitmodelver.deploy.ledger import REF, Event, Ledger
from gitmodelver.errors import BrokenLedger
from gitmodelver.gitstore.repo import Repo

V1, V2 = "support-bot@v1.0.0", "support-bot@v1.1.0"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(shards, "SHARD", 3)
    yield


def at(minutes: float) -> str:
    return ledger.format_time(START + dt.timedelta(minutes=minutes))


def record(repo: GitRepo, env: str, times: list[str]) -> list[Event]:
    """One event per time, appended as a writer does (one commit each)."""
    book = Ledger(Repo(repo.path))
    return [
        book.append(env, lambda prev, t=t: {"type": "deploy", "version": t, "traffic": {}, "at": t}, t)
        for t in times
    ]


def names(repo: GitRepo, env: str, rev: str = REF) -> list[str]:
    return repo.git("ls-tree", "--name-only", f"{rev}:events/{env}").split()


def commits(repo: GitRepo) -> int:
    return int(repo.git("rev-list", "--count", REF))


def drop_object(repo: GitRepo, spec: str) -> None:
    """Delete a loose object: any read of it now fails, so a command that still works never read it."""
    oid = repo.git("rev-parse", spec).strip()
    (repo.path / ".git" / "objects" / oid[:2] / oid[2:]).unlink()


# --------------------------------------------------------------------------- appending


def test_appends_cross_shard_boundaries_one_shard_per_commit(repo: GitRepo) -> None:
    repo.git("commit", "-q", "--allow-empty", "-m", "start")
    events = record(repo, "load", [at(i) for i in range(8)])
    assert [e.seq for e in events] == list(range(1, 9))
    assert names(repo, "load") == ["00000001.jsonl", "00000004.jsonl", "00000007.jsonl"]
    lines = ledger_bytes(repo.path, "load").splitlines(keepends=True)
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 9))
    assert lines == [ledger.encode(e.data) for e in events]
    for first, chunk in ((1, lines[:3]), (4, lines[3:6]), (7, lines[6:])):
        assert repo.git("cat-file", "blob", f"{REF}:events/load/{first:08d}.jsonl").encode() == b"".join(
            chunk
        )
    assert commits(repo) == 8  # one commit per event
    for n in range(8):  # and each touches one shard: the last one, or the next one it begins
        changed = repo.git("diff-tree", "-r", "--name-only", "--no-commit-id", "--root", f"{REF}~{n}").split()
        assert changed == [f"events/load/{shards.first_of(8 - n):08d}.jsonl"]


def test_last_and_envs(repo: GitRepo) -> None:
    record(repo, "load", [at(i) for i in range(4)])
    record(repo, "canary", [at(0)])
    book = Ledger(Repo(repo.path))
    last = book.last("load")
    assert last is not None and last.seq == 4 and last.at == at(3)
    assert book.last("nowhere") is None
    assert book.envs() == ["canary", "load"]
    assert repo.modelver("envs", "--json").json().keys() == {"canary", "load"}


def test_last_reads_only_the_last_shard(repo: GitRepo) -> None:
    record(repo, "load", [at(i) for i in range(7)])
    assert Ledger(Repo(repo.path)).last("load") is not None  # judged: remembered by blob id
    drop_object(repo, f"{REF}:events/load/00000001.jsonl")
    drop_object(repo, f"{REF}:events/load/00000004.jsonl")
    fresh = Ledger(Repo(repo.path))  # a new process: the verdicts come from the state dir
    assert fresh.last("load").seq == 7  # type: ignore[union-attr]
    assert record(repo, "load", [at(7), at(8)])[-1].seq == 9  # appends, across a boundary too
    assert names(repo, "load")[-1] == "00000007.jsonl"
    assert record(repo, "load", [at(9)])[-1].seq == 10
    assert names(repo, "load")[-1] == "00000010.jsonl"


# --------------------------------------------------------------------------- finding by time

TIMES = [at(0), at(1), at(2), at(2), at(3), at(4), at(4), at(4), at(5), at(6)]  # ties across boundaries


def _asof(events: list[Event], when: str) -> int | None:
    """What asof must answer: the last event at or before ``when``, by replay."""
    found = [e.seq for e in events if e.at <= when]
    return found[-1] if found else None


def _moments() -> list[str]:
    """Before, at, between and after every event, shard boundaries included."""
    return [at(-1), at(0.5), at(10), *TIMES, *(at(m + 0.5) for m in range(7)), ledger.format_time(START)]


@pytest.mark.parametrize("when", _moments())
def test_asof_at_before_between_and_after_shard_boundaries(repo: GitRepo, when: str) -> None:
    events = record(repo, "load", TIMES)
    found = Ledger(Repo(repo.path)).asof("load", when)
    assert (found.seq if found else None) == _asof(events, when)


def test_asof_reads_one_shard(repo: GitRepo) -> None:
    events = record(repo, "load", TIMES)
    assert Ledger(Repo(repo.path)).last("load") is not None
    for first in (1, 7, 10):
        drop_object(repo, f"{REF}:events/load/{first:08d}.jsonl")
    for when in (at(2), at(3), at(3.5)):  # all in 00000004.jsonl (at(4) is in 00000007.jsonl too)
        assert Ledger(Repo(repo.path)).asof("load", when).seq == _asof(events, when)  # type: ignore[union-attr]
    result = repo.modelver("asof", at(3), "--env", "load", "--json")
    assert result.code == 0 and result.json()["event"]["seq"] == 5


def _between(events: list[Event], since: str, until: str) -> list[int]:
    """The period's events after the one in force at its start, by replay."""
    start = max((i for i, e in enumerate(events) if e.at <= since), default=0)
    return [e.seq for e in events[start:] if e.at <= until]


PERIODS = [
    (at(-2), at(-1)),
    (at(-1), at(0)),
    (at(0), at(10)),
    (at(2), at(2)),
    (at(2), at(4)),
    (at(2.5), at(3.5)),
    (at(4), at(5)),
    (at(4.5), at(4.6)),
    (at(6), at(7)),
    (at(9), at(10)),
]


@pytest.mark.parametrize(("since", "until"), PERIODS)
def test_a_period_holds_the_event_in_force_at_its_start_and_its_own(
    repo: GitRepo, since: str, until: str
) -> None:
    events = record(repo, "load", TIMES)
    found = Ledger(Repo(repo.path)).between("load", since, until)
    assert [e.seq for e in found] == _between(events, since, until)


def test_a_period_reads_only_the_shards_it_overlaps(repo: GitRepo) -> None:
    events = record(repo, "load", TIMES)
    assert Ledger(Repo(repo.path)).last("load") is not None
    drop_object(repo, f"{REF}:events/load/00000001.jsonl")
    drop_object(repo, f"{REF}:events/load/00000010.jsonl")
    found = Ledger(Repo(repo.path)).between("load", at(3.5), at(5))  # 00000004 and 00000007
    assert [e.seq for e in found] == _between(events, at(3.5), at(5)) == [5, 6, 7, 8, 9]
    with pytest.raises(KeyError):  # the whole history does need them: the objects are really gone
        Ledger(Repo(repo.path)).events("load")


# --------------------------------------------------------------------------- releases, deploys, audit


@pytest.fixture
def released(repo: GitRepo) -> GitRepo:
    """support-bot v1.0.0 and v1.1.0."""
    seed(repo, MANIFEST)
    assert repo.modelver("release").code == 0
    repo.write("prompts/system.j2", "Be concise.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("concise")
    assert repo.modelver("release").code == 0
    return repo


def test_audit_reads_the_period_from_the_shards_it_overlaps(released: GitRepo) -> None:
    repo = released
    for version in ("v1.0.0", "v1.1.0") * 4:  # 8 events: 00000001, 00000004, 00000007
        assert repo.modelver("deploy", version, "--env", "prod").code == 0
    events = [Event(e) for e in json_lines(repo, "prod")]
    since = ledger.format_time(_parse(events[4].at) + dt.timedelta(microseconds=1))  # inside event 5
    until = ledger.format_time(_parse(events[5].at) + dt.timedelta(microseconds=1))  # just after event 6
    assert repo.modelver("envs").code == 0  # judged once, remembered
    drop_object(repo, f"{REF}:events/prod/00000001.jsonl")
    drop_object(repo, f"{REF}:events/prod/00000007.jsonl")
    result = repo.modelver("audit", "--env", "prod", "--since", since, "--until", until, "--format", "json")
    assert result.code in (0, 1), result.err
    report = json.loads(result.out)
    assert report["ledger"] == {"ok": True, "file": "events/prod/", "problems": [], "fix": None}
    assert [(s["from"], s["to"], s["traffic"]) for s in report["timeline"]] == [
        (since, events[5].at, {V1: 100.0}),
        (events[5].at, until, {V2: 100.0}),
    ]
    assert [e["seq"] for e in report["events"]] == [6]
    assert [v["tag"] for v in report["versions"]] == [V1, V2]


def json_lines(repo: GitRepo, env: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger_bytes(repo.path, env).splitlines()]


def _parse(moment: str) -> dt.datetime:
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- an older version's ledger


def older_ledger(repo: GitRepo, env: str, count: int) -> bytes:
    """What an older version wrote: one commit per deploy event, each rewriting ``events/<env>.jsonl``."""
    git = pygit2.Repository(str(repo.path))
    versions = [_version(repo, tag) for tag in (V1, V2)]
    data, previous, parent = b"", None, None
    who = pygit2.Signature("Old Writer", "old@example.com")
    for i in range(count):
        event = deployments.deploy(previous, versions[i % 2], "Old Writer", None, env=env)
        event.update(seq=i + 1, env=env, at=at(i))
        data += ledger.encode(event)
        previous = Event(event)
        folder = git.TreeBuilder()
        folder.insert(f"{env}.jsonl", git.create_blob(data), pygit2.enums.FileMode.BLOB)
        root = git.TreeBuilder()
        root.insert("events", folder.write(), pygit2.enums.FileMode.TREE)
        parent = git.create_commit(None, who, who, f"deploy {i}", root.write(), [parent] if parent else [])
    repo.git("update-ref", REF, str(parent))
    return data


def _version(repo: GitRepo, tag: str) -> deployments.VersionRef:
    target = repo.git("rev-parse", tag).strip()
    return deployments.VersionRef(tag, target, None, None, {})


def test_an_older_ledger_is_read_as_it_is(released: GitRepo) -> None:
    repo = released
    data = older_ledger(repo, "prod", 5)
    tip = repo.git("rev-parse", REF)
    book = Ledger(Repo(repo.path))
    assert book.envs() == ["prod"] and book.place("prod") == "events/prod.jsonl"
    assert book.last("prod").seq == 5  # type: ignore[union-attr]
    assert book.asof("prod", at(2.5)).seq == 3  # type: ignore[union-attr]
    assert [e.seq for e in book.between("prod", at(1.5), at(3))] == [2, 3, 4]
    assert [ledger.encode(e.data) for e in book.events("prod")] == data.splitlines(keepends=True)
    assert repo.modelver("envs", "--json").json()["prod"]["stable"] == V1
    assert repo.modelver("asof", at(1), "--env", "prod", "--json").json()["event"]["seq"] == 2
    assert repo.modelver("rollout", "status", "--env", "prod").code == 0
    assert repo.git("rev-parse", REF) == tip  # reading wrote nothing
    assert names_at_top(repo) == ["prod.jsonl"]


def names_at_top(repo: GitRepo) -> list[str]:
    return repo.git("ls-tree", "--name-only", f"{REF}:events").split()


@pytest.mark.parametrize("count", [1, 5, 6, 7])
def test_the_first_deploy_moves_an_older_file_into_shards_in_its_commit(
    released: GitRepo, count: int
) -> None:
    repo = released
    data = older_ledger(repo, "prod", count)
    before = repo.git("rev-parse", REF).strip()
    result = repo.modelver("deploy", "v1.1.0", "--env", "prod")
    assert result.code == 0, result.err
    assert repo.git("rev-parse", f"{REF}~1").strip() == before  # one commit, on top
    assert names_at_top(repo) == ["prod"]  # the older file is gone
    firsts = list(range(1, count + 2, 3))
    assert names(repo, "prod") == [f"{first:08d}.jsonl" for first in firsts]
    everything = ledger_bytes(repo.path, "prod")
    assert everything.startswith(data)  # the same bytes, then the new line
    added = everything[len(data) :]
    assert added.count(b"\n") == 1 and json.loads(added)["seq"] == count + 1
    changed = repo.git("diff-tree", "-r", "--name-status", "--no-commit-id", REF).splitlines()
    assert "D\tevents/prod.jsonl" in changed and len(changed) == 1 + len(firsts)
    book = Ledger(Repo(repo.path))
    assert [e.seq for e in book.events("prod")] == list(range(1, count + 2))
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0  # and on from there
    assert json_lines(repo, "prod")[-1]["seq"] == count + 2


def test_both_layouts_at_once_are_refused_naming_both(released: GitRepo) -> None:
    repo = released
    older_ledger(repo, "prod", 2)
    git = pygit2.Repository(str(repo.path))
    tip = git.references[REF].target
    tree = git[tip].peel(pygit2.Tree)
    shard = git.TreeBuilder()
    shard.insert("00000001.jsonl", tree["events"]["prod.jsonl"].id, pygit2.enums.FileMode.BLOB)
    events = git.TreeBuilder(tree["events"])
    events.insert("prod", shard.write(), pygit2.enums.FileMode.TREE)
    root = git.TreeBuilder(tree)
    root.insert("events", events.write(), pygit2.enums.FileMode.TREE)
    who = pygit2.Signature("Someone", "someone@example.com")
    repo.git("update-ref", REF, str(git.create_commit(None, who, who, "both", root.write(), [tip])))
    with pytest.raises(BrokenLedger) as caught:
        Ledger(Repo(repo.path)).last("prod")
    assert "events/prod.jsonl and events/prod/: both hold prod's events" in str(caught.value)
    for args in (("envs",), ("asof", "now", "--env", "prod"), ("deploy", "v1.0.0", "--env", "prod")):
        result = repo.modelver(*args)
        assert result.code == 1 and "events/prod.jsonl and events/prod/" in result.err, (args, result.err)
    fix = fix_in(repo.modelver("envs").err)
    assert fix == f"git update-ref {REF} {tip} {repo.git('rev-parse', REF).strip()}"
    run_fix(repo, fix)
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0


# --------------------------------------------------------------------------- a broken shard, and its fix


def forge(repo: GitRepo, path: str, line: int, text: bytes) -> str:
    """A commit on the ledger with line ``line`` of ``path`` replaced by ``text``."""
    git = pygit2.Repository(str(repo.path))
    tip = git.references[REF].target
    tree = git[tip].peel(pygit2.Tree)
    lines = (tree / path).data.splitlines(keepends=True)
    lines[line - 1] = text
    index = pygit2.Index()
    index.read_tree(tree)
    index.add(pygit2.IndexEntry(path, git.create_blob(b"".join(lines)), pygit2.enums.FileMode.BLOB))
    who = pygit2.Signature("Mallory", "mallory@example.com")
    commit = git.create_commit(None, who, who, "forged", index.write_tree(git), [tip])
    repo.git("update-ref", REF, str(commit))
    return str(commit)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"not json\n", "events/load/00000004.jsonl:2: not JSON"),
        (None, "events/load/00000004.jsonl:2: seq 4, 9: seq 5 to 8 are missing"),
    ],
)
def test_a_forged_line_in_an_earlier_shard_is_named_and_the_fix_works(
    repo: GitRepo, text: bytes | None, problem: str
) -> None:
    events = record(repo, "load", [at(i) for i in range(7)])
    assert Ledger(Repo(repo.path)).last("load") is not None  # judged sound and remembered
    sound = repo.git("rev-parse", REF).strip()
    forged = text or ledger.encode({**events[4].data, "seq": 9})
    forge(repo, "events/load/00000004.jsonl", 2, forged)
    record_after = Ledger(Repo(repo.path))
    with pytest.raises(BrokenLedger) as caught:
        record_after.append("load", lambda prev: {"type": "deploy", "version": "x", "traffic": {}}, "more")
    assert problem in str(caught.value)
    result = repo.modelver("asof", "now", "--env", "load")
    assert result.code == 1 and problem in result.err
    assert f"the ledger was sound at {sound[:12]}, 1 commit(s) ago" in result.err
    assert fix_in(result.err).startswith(f"git update-ref {REF} {sound} ")
    run_fix(repo, fix_in(result.err))
    assert repo.modelver("asof", "now", "--env", "load").code == 0
    assert record(repo, "load", [at(8)])[-1].seq == 8


def test_the_fix_fetches_a_remote_whose_shards_are_sound(repo: GitRepo, tmp_path: Path) -> None:
    record(repo, "load", [at(i) for i in range(7)])
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", REF)
    repo.git("fetch", "-q", "origin")
    forge(repo, "events/load/00000001.jsonl", 3, b"{}\n")
    result = repo.modelver("envs", "--json")
    assert result.code == 1 and "events/load/00000001.jsonl:3: missing seq" in result.err
    assert fix_in(result.err) == f"git fetch origin +{REF}:{REF}"
    run_fix(repo, fix_in(result.err))
    assert repo.modelver("envs", "--json").code == 0


def test_a_shard_out_of_place_is_broken(repo: GitRepo) -> None:
    record(repo, "load", [at(i) for i in range(4)])
    git = pygit2.Repository(str(repo.path))
    tip = git.references[REF].target
    tree = git[tip].peel(pygit2.Tree)
    folder = git.TreeBuilder(tree["events"]["load"])
    folder.insert("00000005.jsonl", tree["events"]["load"]["00000004.jsonl"].id, pygit2.enums.FileMode.BLOB)
    folder.remove("00000004.jsonl")
    events = git.TreeBuilder(tree["events"])
    events.insert("load", folder.write(), pygit2.enums.FileMode.TREE)
    root = git.TreeBuilder(tree)
    root.insert("events", events.write(), pygit2.enums.FileMode.TREE)
    who = pygit2.Signature("Someone", "someone@example.com")
    repo.git("update-ref", REF, str(git.create_commit(None, who, who, "renamed", root.write(), [tip])))
    result = repo.modelver("asof", "now", "--env", "load")
    assert result.code == 1
    assert "events/load/00000005.jsonl:1: the shard's name says it starts at seq 5, but it follows seq 3" in (
        result.err
    )


# --------------------------------------------------------------------------- the verdicts remembered


@pytest.mark.parametrize(
    "stored",
    [
        '{"load": {"blob": "0", "size": 1, "lines": 1, "seq": 1, "at": ""}}',  # an older version's form
        '{"format": 2, "files": {"events/load/00000001.jsonl": {"blob": 7}}}',
        "not json",
        "[]",
    ],
)
def test_an_old_or_corrupt_verdict_file_is_ignored(repo: GitRepo, stored: str) -> None:
    record(repo, "load", [at(i) for i in range(4)])
    state = repo.path / ".git" / "modelver" / "ledger-sound.json"
    state.write_text(stored)
    assert Ledger(Repo(repo.path)).last("load").seq == 4  # type: ignore[union-attr]
    assert json.loads(state.read_text())["format"] == 2  # judged again, and written in the current form
    forge(repo, "events/load/00000001.jsonl", 2, b"{}\n")
    state.write_text(stored)
    with pytest.raises(BrokenLedger):
        Ledger(Repo(repo.path)).last("load")


def test_the_verdicts_name_every_shard(repo: GitRepo) -> None:
    record(repo, "load", [at(i) for i in range(5)])
    files = json.loads((repo.path / ".git" / "modelver" / "ledger-sound.json").read_text())["files"]
    assert sorted(files) == ["events/load/00000001.jsonl", "events/load/00000004.jsonl"]
    first, second = files["events/load/00000001.jsonl"], files["events/load/00000004.jsonl"]
    assert (first["after"], first["lines"], first["seq"], first["first_at"]) == ([0, ""], 3, 3, at(0))
    assert (second["after"], second["lines"], second["seq"], second["first_at"]) == ([3, at(2)], 2, 5, at(3))


# --------------------------------------------------------------------------- completion


def test_environment_completion_lists_both_layouts(released: GitRepo) -> None:
    repo = released
    older_ledger(repo, "prod", 1)
    record(repo, "staging", [at(0)])
    listed = subprocess.run(
        ["bash", "-c", completion._QUERIES + "_git_modelver_list_envs"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == ["prod", "staging"]
