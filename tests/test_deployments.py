"""Deployments on a real repository: the ledger branch, rollouts driven by observations, asof."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import MANIFEST, GitRepo, ledger_lines, seed

from gitmodelver.deploy import ledger
from gitmodelver.gitstore.repo import Repo

ROLLOUT = """
[rollout]
steps = [5, 25, 50, 100]
min_samples = 200
failure_limit = 0

[rollout.metrics.thumbs_up]
direction = "higher"
max_regression = 0.02
test = "proportion"
confidence = 0.95
"""


@pytest.fixture
def released(repo: GitRepo) -> GitRepo:
    """support-bot v1.0.0, v1.1.0, v1.2.0, each with rollout gates."""
    seed(repo, MANIFEST + ROLLOUT)
    assert repo.modelver("release").code == 0
    for version, text in (("1.1.0", "Be concise.\n"), ("1.2.0", "Always agree.\n")):
        repo.write("prompts/system.j2", text)
        repo.modelver("lock")
        repo.commit_all(f"prompt for {version}")
        assert repo.modelver("release", "--json").json()["version"] == version
    return repo


def observations(path: Path, rates: dict[str, float], n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for version, p in rates.items():
            for _ in range(n):
                f.write(
                    json.dumps({"version": version, "metric": "thumbs_up", "value": int(rng.random() < p)})
                    + "\n"
                )
    return path


def ledger_events(repo: GitRepo, env: str) -> list[dict[str, object]]:
    return ledger_lines(repo.path, env)


def test_deploy_records_an_event_on_the_ledger_branch(released: GitRepo) -> None:
    repo = released
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod", "--reason", "launch").code == 0
    (event,) = ledger_events(repo, "prod")
    assert event["seq"] == 1 and event["type"] == "deploy" and event["env"] == "prod"
    assert event["traffic"] == {"support-bot@v1.0.0": 100}
    assert event["tag_object"] == repo.git("rev-parse", "support-bot@v1.0.0").strip()
    assert event["digest"].startswith("sha256:") and event["actor"].startswith("Test Author")
    assert event["reason"] == "launch"
    envs = repo.modelver("envs", "--json").json()
    assert (
        envs["prod"]["traffic"] == {"support-bot@v1.0.0": 100}
        and envs["prod"]["stable"] == "support-bot@v1.0.0"
    )
    # the working branch is untouched
    assert repo.git("status", "--porcelain") == ""


def test_better_candidate_is_promoted_through_every_step(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    assert repo.modelver("rollout", "start", "v1.1.0", "--env", "prod").code == 0
    splits = []
    for step in range(4):
        obs = observations(
            tmp_path / f"obs{step}.jsonl", {"support-bot@v1.0.0": 0.80, "support-bot@v1.1.0": 0.86}, 600, step
        )
        result = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(obs), "--json")
        assert result.code == 0, result.err
        splits.append(result.json()["traffic"])
    assert splits == [
        {"support-bot@v1.0.0": 75, "support-bot@v1.1.0": 25},
        {"support-bot@v1.0.0": 50, "support-bot@v1.1.0": 50},
        {"support-bot@v1.1.0": 100},  # the last step: all traffic, still under analysis
        {"support-bot@v1.1.0": 100},  # promoted
    ]
    events = ledger_events(repo, "prod")
    kinds = [e["type"] for e in events]
    assert kinds[:6] == ["deploy", "rollout-start", "rollout-step", "rollout-step", "rollout-step", "promote"]
    promote = events[5]
    assert promote["stable"] == "support-bot@v1.1.0" and promote["previous_stable"] == "support-bot@v1.0.0"
    for event in events[2:6]:
        (metric,) = event["analysis"]["metrics"]
        assert metric["verdict"] == "pass"
        assert metric["n_stable"] == 600 and metric["n_canary"] == 600
        assert {"p_value", "z", "regression", "max_regression", "confidence"} <= set(metric)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_worse_candidate_rolls_back_at_first_step_with_enough_samples(
    released: GitRepo, tmp_path: Path
) -> None:
    repo = released
    repo.modelver("deploy", "v1.1.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.2.0", "--env", "prod")
    few = observations(tmp_path / "few.jsonl", {"support-bot@v1.1.0": 0.8, "support-bot@v1.2.0": 0.5}, 50)
    held = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(few), "--json")
    assert held.code == 0
    assert held.json()["analysis"]["verdict"] == "inconclusive"
    assert held.json()["traffic"] == {"support-bot@v1.1.0": 95, "support-bot@v1.2.0": 5}
    many = observations(tmp_path / "many.jsonl", {"support-bot@v1.1.0": 0.8, "support-bot@v1.2.0": 0.6}, 400)
    result = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(many))
    assert result.code == 1
    assert "rolled back" in result.err
    last = ledger_events(repo, "prod")[-1]
    assert last["type"] == "rollback" and last["traffic"] == {"support-bot@v1.1.0": 100}
    assert last["analysis"]["verdict"] == "fail" and last["analysis"]["metrics"][0]["p_value"] < 0.05
    assert repo.modelver("envs", "--json").json()["prod"]["state"] == "rolled-back"


def test_noise_within_tolerance_passes_and_no_data_holds(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "staging")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "staging", "--steps", "50,100")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert (
        repo.modelver("rollout", "step", "--env", "staging", "--metrics", str(empty), "--json").json()[
            "analysis"
        ]["verdict"]
        == "inconclusive"
    )
    noisy = observations(
        tmp_path / "noisy.jsonl", {"support-bot@v1.0.0": 0.80, "support-bot@v1.1.0": 0.795}, 800, 3
    )
    step = repo.modelver("rollout", "step", "--env", "staging", "--metrics", str(noisy), "--json").json()
    assert step["analysis"]["verdict"] == "pass"
    assert step["traffic"] == {"support-bot@v1.1.0": 100}


def test_watch_exits_0_on_promotion_and_1_on_rollback(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    good = observations(tmp_path / "good.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.85}, 500)
    assert (
        repo.modelver("rollout", "watch", "--env", "prod", "--metrics", str(good), "--interval", "0").code
        == 0
    )
    assert repo.modelver("envs", "--json").json()["prod"]["stable"] == "support-bot@v1.1.0"
    repo.modelver("rollout", "start", "v1.2.0", "--env", "prod")
    bad = tmp_path / "bad.sh"
    observations(tmp_path / "bad.jsonl", {"support-bot@v1.1.0": 0.8, "v1.2.0": 0.5}, 500)
    bad.write_text(f"#!/bin/sh\ncat {tmp_path / 'bad.jsonl'}\n")
    bad.chmod(0o755)
    result = repo.modelver("rollout", "watch", "--env", "prod", "--metrics-cmd", str(bad), "--interval", "0")
    assert result.code == 1
    assert repo.modelver("envs", "--json").json()["prod"]["traffic"] == {"support-bot@v1.1.0": 100}


def test_new_candidate_mid_rollout_restarts_the_analysis(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    good = observations(tmp_path / "g.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.86}, 500)
    repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(good))
    restarted = repo.modelver("rollout", "start", "v1.2.0", "--env", "prod", "--json").json()
    assert restarted["traffic"] == {"support-bot@v1.0.0": 95, "support-bot@v1.2.0": 5}
    assert restarted["rollout"]["index"] == 0 and restarted["rollout"]["failures"] == 0
    assert restarted["candidate"] == "support-bot@v1.2.0"


def test_a_replaced_candidate_tag_restarts_the_analysis(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    good = observations(tmp_path / "g.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.86}, 500)
    assert repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(good), "--json").json()[
        "traffic"
    ] == {"support-bot@v1.0.0": 75, "support-bot@v1.1.0": 25}
    # the same release, tagged anew (a new tag object that still verifies)
    message = repo.git("tag", "-l", "--format=%(contents)", "support-bot@v1.1.0")
    old = repo.git("rev-parse", "support-bot@v1.1.0").strip()
    repo.git(
        "tag",
        "-f",
        "-a",
        "--cleanup=verbatim",
        "-F",
        "-",
        "support-bot@v1.1.0",
        "support-bot@v1.1.0^{commit}",
        input=message,
    )
    assert repo.git("rev-parse", "support-bot@v1.1.0").strip() != old
    step = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(good), "--json").json()
    assert step["type"] == "rollout-start" and "analysis restarted" in step["reason"]
    assert step["rollout"]["index"] == 0
    assert step["traffic"] == {"support-bot@v1.0.0": 95, "support-bot@v1.1.0": 5}


def test_a_candidate_that_no_longer_verifies_gets_no_more_traffic(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    repo.git(
        "tag",
        "-f",
        "-a",
        "-m",
        "support-bot v1.1.0 (minor)\n\nModelver-Digest: sha256:" + "0" * 64,
        "support-bot@v1.1.0",
        "support-bot@v1.1.0^{commit}",
    )
    good = observations(tmp_path / "g.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.86}, 500)
    result = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(good))
    assert result.code == 1 and "fails verification" in result.err
    assert ledger_events(repo, "prod")[-1]["type"] == "rollout-start"


def test_watch_records_an_unchanged_hold_once(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    few = observations(tmp_path / "few.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.8}, 20)
    result = repo.modelver(
        "rollout", "watch", "--env", "prod", "--metrics", str(few), "--interval", "0", "--timeout", "0.5"
    )
    assert result.code == 1 and "still at" in result.err
    kinds = [e["type"] for e in ledger_events(repo, "prod")]
    assert kinds == ["deploy", "rollout-start", "rollout-step"]


def test_abort_and_rollback(released: GitRepo) -> None:
    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    assert repo.modelver("rollout", "abort", "--env", "prod").code == 0
    assert repo.modelver("envs", "--json").json()["prod"]["traffic"] == {"support-bot@v1.0.0": 100}
    repo.modelver("deploy", "v1.2.0", "--env", "prod")
    back = repo.modelver("rollback", "--env", "prod", "--json").json()
    assert back["traffic"] == {"support-bot@v1.0.0": 100} and back["type"] == "rollback"
    to = repo.modelver("rollback", "--env", "prod", "--to", "v1.1.0", "--json").json()
    assert to["traffic"] == {"support-bot@v1.1.0": 100}
    assert repo.modelver("rollout", "step", "--env", "prod", "--metrics", "/dev/null").code == 2


def test_unverifiable_version_is_refused(released: GitRepo) -> None:
    repo = released
    repo.git(
        "tag",
        "-f",
        "-a",
        "-m",
        "support-bot v1.1.0 (minor)\n\nModelver-Digest: sha256:" + "0" * 64,
        "support-bot@v1.1.0",
        "support-bot@v1.0.0^{commit}",
    )
    result = repo.modelver("deploy", "v1.1.0", "--env", "prod")
    assert result.code == 1 and "fails verification" in result.err
    assert repo.git("rev-parse", "--verify", "-q", "refs/heads/modelver/ledger", check=False) == ""


def test_asof_before_at_between_and_after(released: GitRepo) -> None:
    repo = released
    for version in ("v1.0.0", "v1.1.0", "v1.2.0"):
        repo.modelver("deploy", version, "--env", "prod")
    events = ledger_events(repo, "prod")
    at = [e["at"] for e in events]

    def asof(when: str) -> dict[str, object]:
        result = repo.modelver("asof", when, "--env", "prod", "--json")
        assert result.code == 0, result.err
        return result.json()  # type: ignore[no-any-return]

    assert asof("2000-01-01T00:00:00Z")["event"] is None
    assert asof("2000-01-01T00:00:00Z")["traffic"] == {}
    assert asof(at[0])["event"]["seq"] == 1
    assert asof(at[1])["traffic"] == {"support-bot@v1.1.0": 100}
    moment = dt.datetime.strptime(at[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    between = ledger.format_time(moment + dt.timedelta(microseconds=1))
    assert at[1] < between < at[2]
    assert asof(between)["event"]["seq"] == 2
    assert asof(at[2])["event"]["seq"] == 3
    assert asof("2999-01-01T00:00:00Z")["event"]["seq"] == 3
    assert asof("@4102444800")["traffic"] == {"support-bot@v1.2.0": 100}
    bad = repo.modelver("asof", "yesterday-ish", "--env", "prod")
    assert bad.code == 2 and "ISO 8601" in bad.err


def test_eight_writers_fifty_events_each_across_shard_boundaries(released: GitRepo) -> None:
    repo = released
    script = textwrap.dedent(f"""
        import sys
        from gitmodelver.deploy import shards
        from gitmodelver.deploy.ledger import Ledger
        from gitmodelver.gitstore.repo import Repo
        shards.SHARD = 7  # small shards: the writers race across a boundary every few events
        book = Ledger(Repo({str(repo.path)!r}))
        me = sys.argv[1]
        for i in range(50):
            event = {{"type": "deploy", "version": f"w{{me}}-{{i}}", "traffic": {{}}}}
            book.append("load", lambda prev: dict(event), f"writer {{me}} event {{i}}")
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    errors = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert all(code == 0 for code, _ in errors), errors
    events = ledger_events(repo, "load")
    assert len(events) == 400
    assert [e["seq"] for e in events] == list(range(1, 401))
    assert {e["version"] for e in events} == {f"w{w}-{i}" for w in range(8) for i in range(50)}
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    # one commit per event, a straight line of history
    assert repo.git("rev-list", "--count", "modelver/ledger").strip() == "400"
    assert repo.git("rev-list", "--merges", "modelver/ledger").strip() == ""
    # full shards of 7 named after their first seq, the last one holding the rest
    names = repo.git("ls-tree", "--name-only", "modelver/ledger:events/load").split()
    assert names == [f"{first:08d}.jsonl" for first in range(1, 401, 7)]
    sizes = [repo.git("show", f"modelver/ledger:events/load/{name}").count("\n") for name in names]
    assert sizes == [7] * 57 + [1]


def test_every_event_matches_the_ledger_schema(released: GitRepo, tmp_path: Path) -> None:
    import jsonschema

    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    repo.modelver("rollout", "start", "v1.1.0", "--env", "prod")
    obs = observations(tmp_path / "o.jsonl", {"support-bot@v1.0.0": 0.8, "support-bot@v1.1.0": 0.5}, 300)
    repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(obs))
    repo.modelver("rollback", "--env", "prod", "--to", "v1.2.0")
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "ledger-event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    events = ledger_events(repo, "prod")
    assert [e["type"] for e in events] == ["deploy", "rollout-start", "rollback", "rollback"]
    for event in events:
        assert list(validator.iter_errors(event)) == [], event


def test_a_stale_ref_lock_fails_fast_not_after_retries(released: GitRepo) -> None:
    import time

    repo = released
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    lock = repo.path / ".git" / "refs" / "heads" / "modelver" / "ledger.lock"
    lock.write_text("")
    started = time.monotonic()
    result = repo.modelver("deploy", "v1.1.0", "--env", "prod")
    assert time.monotonic() - started < 5
    assert result.code == 3 and "ledger.lock" in result.err and "stale .lock" in result.err
    lock.unlink()
    assert repo.modelver("deploy", "v1.1.0", "--env", "prod").code == 0


def test_event_times_never_go_backwards(released: GitRepo) -> None:
    repo = released
    book = ledger.Ledger(Repo(repo.path))
    book.append(
        "skew",
        lambda prev: {"type": "deploy", "version": "x", "traffic": {}, "at": "2099-01-01T00:00:00.000000Z"},
        "a writer whose clock runs ahead",
    )
    repo.modelver("deploy", "v1.0.0", "--env", "skew")
    events = ledger_events(repo, "skew")
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert (
        repo.modelver("asof", "2099-06-01T00:00:00Z", "--env", "skew", "--json").json()["event"]["seq"] == 2
    )


def test_full_tags_need_no_system_flag_in_a_repository_of_several(released: GitRepo, tmp_path: Path) -> None:
    repo = released
    repo.write("other/modelver.toml", '[system]\nname = "other"\n\n[parameters]\ntemperature = 0.1\n')
    repo.commit_all("a second system")
    assert repo.modelver("--system", "other", "release").code == 0
    assert repo.modelver("deploy", "support-bot@v1.0.0", "--env", "prod").code == 0
    assert repo.modelver("deploy", "other@v1.0.0", "--env", "other-prod").code == 0
    assert repo.modelver("rollout", "start", "support-bot@v1.1.0", "--env", "prod").code == 0
    obs = observations(tmp_path / "o.jsonl", {"v1.0.0": 0.8, "v1.1.0": 0.86}, 500)  # short labels
    step = repo.modelver("rollout", "step", "--env", "prod", "--metrics", str(obs), "--json")
    assert step.code == 0, step.err
    assert step.json()["analysis"]["metrics"][0]["n_canary"] == 500
    assert repo.modelver("rollback", "--env", "prod").code == 0
    short = repo.modelver("deploy", "v1.0.0", "--env", "prod")
    assert short.code == 2 and "--system" in short.err


def test_asof_now_and_show_head(released: GitRepo) -> None:
    repo = released
    repo.modelver("deploy", "v1.1.0", "--env", "prod")
    assert repo.modelver("asof", "now", "--env", "prod", "--json").json()["traffic"] == {
        "support-bot@v1.1.0": 100
    }
    assert repo.modelver("show", "HEAD", "--json").json()["tag"] == "support-bot@v1.2.0"


def test_deploy_and_rollback_say_what_serves(released: GitRepo) -> None:
    repo = released
    assert (
        repo.modelver("deploy", "v1.0.0", "--env", "prod").out
        == "prod: support-bot@v1.0.0 serves 100% (event 1)\n"
    )
    repo.modelver("deploy", "v1.1.0", "--env", "prod")
    assert (
        repo.modelver("rollback", "--env", "prod").out
        == "prod: rolled back to support-bot@v1.0.0 (event 3)\n"
    )
