"""`asof` on a ledger of N events, and `Router.route` throughput.

    python bench/bench_ledger.py [--events 100000] [--calls 1000000]

Targets: asof <= 100 ms in-process and <= 400 ms as a whole command; route >= 500,000 calls/s.
Baselines in the same run: `git cat-file -p` of the events file (reading it at all), `git rev-parse`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import tempfile
import time
from pathlib import Path

import pygit2
from _common import MODELVER, init_repo, report, timed

from gitmodelver.deploy.ledger import REF, Ledger, encode, format_time
from gitmodelver.deploy.router import Router
from gitmodelver.gitstore.repo import Repo


def build(path: Path, events: int) -> str:
    """A ledger whose prod file holds N events (written in one commit, as an import would)."""
    repo = init_repo(path)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    lines = []
    for i in range(events):
        at = format_time(start + dt.timedelta(minutes=5 * i))
        tag = f"bench@v1.{i % 50}.0"
        lines.append(
            encode(
                {
                    "at": at,
                    "seq": i + 1,
                    "env": "prod",
                    "type": "deploy",
                    "version": tag,
                    "traffic": {tag: 100},
                    "stable": tag,
                    "state": "stable",
                    "actor": "bench",
                }
            )
        )
    blob = repo.create_blob(b"".join(lines))
    builder = repo.TreeBuilder()
    events_tree = repo.TreeBuilder()
    events_tree.insert("prod.jsonl", blob, pygit2.enums.FileMode.BLOB)
    builder.insert("events", events_tree.write(), pygit2.enums.FileMode.TREE)
    who = pygit2.Signature("bench", "bench@example.com")
    commit = repo.create_commit(REF, who, who, "import", builder.write(), [])
    subprocess.run(["git", "-C", str(path), "gc", "-q"], check=True)
    del commit
    return format_time(start + dt.timedelta(minutes=5 * (events * 2 // 3) + 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        when = build(path, args.events)
        book = Ledger(Repo(path))
        runs = []
        for _ in range(5):  # nothing is cached between calls: each one reads the file again
            started = time.perf_counter()
            event = book.asof("prod", when)
            runs.append(time.perf_counter() - started)
        assert event is not None and event.seq == args.events * 2 // 3 + 1
        print(
            f"asof in-process ({args.events} events): "
            f"median {sorted(runs)[2] * 1000:.1f} ms (target <= 100 ms)"
        )
        floor = timed(["git", "-C", str(path), "cat-file", "-p", "modelver/ledger:events/prod.jsonl"])
        ours = timed([*MODELVER, "-C", str(path), "asof", when, "--env", "prod", "--json"])
        report(f"asof command ({args.events} events)", ours, floor, "git cat-file of the file", "<= 400 ms")

        router = Router(path, "prod", verify=False)
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
