"""The ledger's cost against its history: `deploy` and `asof` with 100,000 earlier events in an environment
and with 100; `asof` in-process; `Router.route` throughput.

    python bench/bench_ledger.py [--events 100000] [--few 100] [--calls 1000000] [--repeat 9]

Targets: `deploy` with 100,000 earlier events within 1.2x of `deploy` with 100 (an append rewrites one shard
of at most 1,000 lines, whatever the history); asof <= 100 ms in-process and <= 400 ms as a whole command;
route >= 500,000 calls/s. Baselines in the same run: the same commands on the small ledger, and `git
cat-file -p` of the last shard (reading one at all).

Each ledger is written straight into shards with pygit2, in one commit (the history need not hold one
commit per earlier event). The first command on it judges every line once (reported: a fresh clone pays
that once); the timed runs after it find the earlier shards' verdicts by blob id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pygit2
from _common import MODELVER, PROMPTS, ROOT, init_repo, manifest, timed

from gitmodelver.deploy import shards
from gitmodelver.deploy.ledger import REF, Ledger, encode, format_time
from gitmodelver.deploy.router import Router
from gitmodelver.gitstore.repo import Repo

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
BLOB, TREE = pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.TREE
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
BUILT = "refs/bench/built"


def moment(i: int) -> str:
    return format_time(START + dt.timedelta(minutes=5 * i))


def released(path: Path) -> pygit2.Repository:
    """A repository with one released version, `bench@v1.0.0`, for `deploy` to record."""
    repo = init_repo(path)
    (path / "modelver.toml").write_text(manifest(None, prompts=len(PROMPTS)))
    (path / "prompts").mkdir()
    for name, text in PROMPTS.items():
        (path / "prompts" / f"{name}.txt").write_bytes(text)
    for argv in (
        [*MODELVER, "-C", str(path), "lock"],
        ["git", "-C", str(path), "add", "-A"],
        ["git", "-C", str(path), "commit", "-q", "-m", "bench"],
        [*MODELVER, "-C", str(path), "release", "--no-sign"],
    ):
        subprocess.run(argv, env=ENV, capture_output=True, check=True)
    return repo


def build(path: Path, events: int) -> str:
    """A released system whose prod ledger already holds ``events`` events, in shards, in one commit (also
    kept as ``refs/bench/built``); the time two thirds into them (for asof)."""
    repo = released(path)
    shelf = repo.TreeBuilder()
    for first in range(1, events + 1, shards.SHARD):
        lines = [_event(seq) for seq in range(first, min(first + shards.SHARD, events + 1))]
        shelf.insert(shards.name_of(first), repo.create_blob(b"".join(lines)), BLOB)
    folder = repo.TreeBuilder()
    folder.insert("prod", shelf.write(), TREE)
    root = repo.TreeBuilder()
    root.insert("events", folder.write(), TREE)
    who = pygit2.Signature("bench", "bench@example.com")
    commit = repo.create_commit(REF, who, who, f"{events} earlier events", root.write(), [])
    repo.references.create(BUILT, commit)
    subprocess.run(["git", "-C", str(path), "gc", "-q"], check=True)
    return format_time(START + dt.timedelta(minutes=5 * (events * 2 // 3) + 2))


def _event(seq: int) -> bytes:
    tag = f"bench@v1.{seq % 50}.0"
    return encode(
        {
            "at": moment(seq - 1),
            "seq": seq,
            "env": "prod",
            "type": "deploy",
            "version": tag,
            "traffic": {tag: 100},
            "stable": tag,
            "state": "stable",
            "actor": "bench",
        }
    )


def once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=ENV, capture_output=True, check=True)
    return time.perf_counter() - started


def paired(command: list[str], ledgers: dict[Path, str], repeat: int) -> dict[Path, float]:
    """The median time of ``command`` on each ledger (``{when}``: its asof time), runs interleaved so that
    a load on the machine weighs on all alike. Each run starts from the ledger as built (an untimed
    ``git update-ref``), so every deploy appends to the same last shard."""
    runs: dict[Path, list[float]] = {path: [] for path in ledgers}
    for _ in range(repeat):
        for path, when in ledgers.items():
            subprocess.run(["git", "-C", str(path), "update-ref", REF, BUILT], check=True)
            runs[path].append(once([*MODELVER, "-C", str(path), *(a.format(when=when) for a in command)]))
    return {path: statistics.median(times) for path, times in runs.items()}


def in_process(path: Path, when: str, events: int) -> float:
    book = Ledger(Repo(path))
    runs = []
    for _ in range(5):  # nothing is cached between calls but verdicts: each one reads its shard again
        started = time.perf_counter()
        event = book.asof("prod", when)
        runs.append(time.perf_counter() - started)
    assert event is not None and event.seq == events * 2 // 3 + 1
    return sorted(runs)[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        many, full, few = Path(tmp) / "many", Path(tmp) / "full", Path(tmp) / "few"
        started = time.perf_counter()
        # ``events`` and, for the costliest append (the last shard one line short of full, rewritten
        # whole), ``events - 1``; against ``few``.
        ledgers = {
            many: build(many, args.events),
            full: build(full, args.events - 1),
            few: build(few, args.few),
        }
        built = time.perf_counter() - started
        print(
            f"built ledgers of {args.events:,}, {args.events - 1:,} and {args.few:,} events in {built:.1f}s"
        )
        asof = ["asof", "{when}", "--env", "prod", "--json"]
        first = {
            path: once([*MODELVER, "-C", str(path), "asof", ledgers[path], "--env", "prod"])
            for path in ledgers
        }
        print(
            f"first command on a ledger never judged here: {first[many] * 1000:.0f} ms with {args.events:,} "
            f"events, {first[few] * 1000:.0f} ms with {args.few:,} (every line judged once)"
        )
        deploy = ["deploy", "bench@v1.0.0", "--env", "prod"]
        for name, command, target in (("deploy", deploy, "<= 1.2x"), ("asof", asof, "<= 400 ms")):
            took = paired(command, ledgers, args.repeat)
            for path, what in ((many, f"{args.events:,}"), (full, f"{args.events - 1:,}")):
                print(
                    f"{name} command: {took[path] * 1000:.0f} ms with {what} earlier events; "
                    f"{took[few] * 1000:.0f} ms with {args.few:,}; ratio {took[path] / took[few]:.2f}x; "
                    f"target {target}"
                )
        last = f"modelver/ledger:events/prod/{shards.name_of(shards.first_of(args.events))}"
        floor = timed(["git", "-C", str(many), "cat-file", "-p", last])
        print(f"git cat-file of the last shard: {floor * 1000:.0f} ms")
        inner = in_process(many, ledgers[many], args.events)
        print(f"asof in-process ({args.events:,} events): median {inner * 1000:.1f} ms (target <= 100 ms)")

        router = Router(many, "prod", verify=False)
        router._versions = {t: t for t in router._table[1]}  # type: ignore[misc]  # routing only, no loading
        keys = [f"request-{i}" for i in range(args.calls)]
        started = time.perf_counter()
        route = router.route
        for key in keys:
            route(key)
        elapsed = time.perf_counter() - started
        print(f"Router.route: {args.calls / elapsed:,.0f} calls/s (target >= 500,000)")


if __name__ == "__main__":
    main()
