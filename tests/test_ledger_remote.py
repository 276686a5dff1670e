"""Deploying from many clones through one remote: fetch, append on top of the remote's ledger, push; a push
turned down because another machine appended first is redone on the new tip. Real clones, a real bare
remote (and, in bench/bench_deploy_contention.py, a real network transport)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import MANIFEST, GitRepo, fix_in, run_fix, seed

from gitmodelver.deploy import sync
from gitmodelver.deploy.ledger import REF, Ledger
from gitmodelver.deploy.router import Router
from gitmodelver.gitstore.repo import Repo

V1, V2 = "support-bot@v1.0.0", "support-bot@v1.1.0"
ROLLOUT = """
[rollout]
steps = [10, 50, 100]
min_samples = 1000
failure_limit = 0

[rollout.metrics.thumbs_up]
direction = "higher"
max_regression = 0.02
test = "proportion"
confidence = 0.95
"""


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare remote holding two releases (and no ledger yet)."""
    work = GitRepo.create(tmp_path / "work")
    seed(work, MANIFEST + ROLLOUT)
    assert work.modelver("release").code == 0
    work.write("prompts/system.j2", "Be concise.\n")
    work.modelver("lock")
    work.commit_all("concise")
    assert work.modelver("release").code == 0
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    work.git("push", "-q", str(bare), "main", "--tags")
    return bare


def clone(origin: Path, where: Path) -> GitRepo:
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True)
    return GitRepo(where)


def events(path: Path, ref: str = REF) -> list[dict[str, object]]:
    repo = Repo(path)
    book = Ledger(repo)
    tip = repo.git.references[ref].target
    found = []
    for env in book.envs():
        event = book.last(env, tip)  # type: ignore[arg-type]
        found.append({"env": env, "seq": event.seq if event else 0})
    return found


def remote_seqs(origin: Path, env: str) -> list[int]:
    """Every seq of ``env`` on the remote, read from the remote's own ledger."""
    book = Ledger(Repo(origin, bare_ok=True))
    return [e.seq for e in book.events(env)]


def test_two_clones_deploy_in_turn_and_agree(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    assert a.modelver("deploy", V1, "--env", "prod", "--remote", "origin").code == 0
    result = b.modelver("deploy", V2, "--env", "prod", "--remote", "origin", "--json")
    assert result.code == 0, result.err
    assert result.json()["seq"] == 2  # built on A's event, which B fetched first
    assert remote_seqs(origin, "prod") == [1, 2]
    for clone_ in (a, b):
        state = clone_.modelver("envs", "--remote", "origin", "--json").json()
        assert state["prod"]["traffic"] == {V2: 100}
        asof = clone_.modelver("asof", "now", "--env", "prod", "--remote", "origin", "--json").json()
        assert asof["event"]["seq"] == 2


def test_the_remote_can_be_configured_once(origin: Path, tmp_path: Path) -> None:
    a = clone(origin, tmp_path / "a")
    a.git("config", sync.CONFIG, "origin")
    assert a.modelver("deploy", V1, "--env", "staging").code == 0
    assert remote_seqs(origin, "staging") == [1]
    bad = a.modelver("deploy", V1, "--env", "staging", "--remote", "nowhere")
    assert bad.code == 2 and "not a remote of this repository" in bad.err


def test_local_events_the_remote_lacks_are_pushed_first(origin: Path, tmp_path: Path) -> None:
    a = clone(origin, tmp_path / "a")
    assert a.modelver("deploy", V1, "--env", "dev").code == 0  # offline: local only
    assert a.modelver("deploy", V2, "--env", "dev", "--remote", "origin").code == 0
    assert remote_seqs(origin, "dev") == [1, 2]


def test_diverged_ledgers_stop_with_a_fix_that_works(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    assert a.modelver("deploy", V1, "--env", "prod", "--remote", "origin").code == 0
    assert b.modelver("deploy", V2, "--env", "prod").code == 0  # B, offline, recorded its own seq 1
    result = b.modelver("deploy", V2, "--env", "prod", "--remote", "origin")
    assert result.code == 3
    assert "each recorded events the other has not" in result.err
    run_fix(b, fix_in(result.err))
    assert b.modelver("deploy", V2, "--env", "prod", "--remote", "origin").code == 0
    assert remote_seqs(origin, "prod") == [1, 2]


def _deploy_loop(path: Path, count: int, env: str) -> list[str]:
    """``count`` deploys one after the other from one clone, as separate processes; their errors."""
    failed = []
    for i in range(count):
        argv = [sys.executable, "-m", "gitmodelver", "-C", str(path), "deploy", V1 if i % 2 else V2]
        argv += ["--env", env, "--remote", "origin", "--reason", f"clone {path.name} #{i}", "-q"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            failed.append(proc.stderr)
    return failed


def test_concurrent_deploys_from_many_clones_lose_nothing(origin: Path, tmp_path: Path) -> None:
    clones = [clone(origin, tmp_path / f"c{i}") for i in range(4)]
    with ThreadPoolExecutor(max_workers=len(clones)) as pool:  # the four clones at once
        failed = [e for errors in pool.map(lambda c: _deploy_loop(c.path, 5, "prod"), clones) for e in errors]
    assert not failed, failed[0]
    seqs = remote_seqs(origin, "prod")
    assert seqs == list(range(1, 21))
    reasons = sorted(str(e.get("reason")) for e in Ledger(Repo(origin, bare_ok=True)).events("prod"))
    assert reasons == sorted(f"clone c{c} #{i}" for c in range(4) for i in range(5))  # each exactly once
    tips = set()
    for c in clones:
        c.modelver("envs", "--remote", "origin")
        tips.add(c.git("rev-parse", REF).strip())
    assert len(tips) == 1  # one order, the same in every clone


def test_a_watch_stops_when_another_machine_rolls_back(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    assert a.modelver("deploy", V1, "--env", "prod", "--remote", "origin").code == 0
    assert a.modelver("rollout", "start", V2, "--env", "prod", "--remote", "origin").code == 0
    metrics = tmp_path / "few.jsonl"  # too few samples: every step holds, inconclusive
    metrics.write_text(
        "".join(json.dumps({"version": v, "metric": "thumbs_up", "value": 1}) + "\n" for v in (V1, V2))
    )
    watch = subprocess.Popen(
        [sys.executable, "-m", "gitmodelver", "-C", str(a.path), "rollout", "watch", "--env", "prod"]
        + ["--metrics", str(metrics), "--interval", "0.2", "--timeout", "300", "--remote", "origin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        time.sleep(2)
        assert watch.poll() is None, watch.communicate()
        result = b.modelver("rollback", "--env", "prod", "--remote", "origin", "--reason", "pager went off")
        assert result.code == 0, result.err
        out, err = watch.communicate(timeout=120)
    finally:
        watch.kill()
    assert watch.returncode == 1
    assert "was rolled back by" in err and "pager went off" in err
    types = [e.type for e in Ledger(Repo(origin, bare_ok=True)).events("prod")]
    assert types[:2] == ["deploy", "rollout-start"] and types[-1] == "rollback"
    assert set(types[2:-1]) <= {"rollout-step"}


def test_a_router_follows_the_remote_and_keeps_its_table_when_it_is_gone(
    origin: Path, tmp_path: Path
) -> None:
    a, serving = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "serving")
    assert a.modelver("deploy", V1, "--env", "prod", "--remote", "origin").code == 0
    router = Router(serving.path, "prod", refresh_interval=0, verify=False, remote="origin")
    assert router.traffic == {V1: 100}
    assert a.modelver("deploy", V2, "--env", "prod", "--remote", "origin").code == 0
    assert router.refresh() is True
    assert router.traffic == {V2: 100}
    assert router.stale_seconds < 5
    origin.rename(origin.with_name("gone.git"))  # the remote is unreachable
    assert router.refresh() is False
    assert router.traffic == {V2: 100}  # the last good table stays
    assert router.last_fetch_error is not None and "cannot fetch the ledger" in router.last_fetch_error
    time.sleep(0.2)
    assert router.stale_seconds >= 0.2
