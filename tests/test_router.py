"""The Router: sticky, split as the ledger says, refreshed when the ledger moves."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from helpers import MANIFEST, GitRepo, seed

from gitmodelver.deploy.router import BUCKETS, Router, bucket, table


@pytest.fixture
def two_versions(repo: GitRepo) -> GitRepo:
    seed(repo, MANIFEST + "\n[rollout]\nsteps = [30, 100]\n")
    repo.modelver("release")
    repo.write("prompts/system.j2", "Be brief.\n")
    repo.modelver("lock")
    repo.commit_all("brief")
    repo.modelver("release")
    repo.modelver("deploy", "v1.0.0", "--env", "prod")
    assert repo.modelver("rollout", "start", "v1.1.0", "--env", "prod").code == 0
    return repo


def test_bucket_is_stable_and_uniform() -> None:
    assert bucket("request-42") == bucket(b"request-42")
    counts = Counter(bucket(f"user-{i}") * 10 // BUCKETS for i in range(100_000))
    assert all(abs(n - 10_000) < 400 for n in counts.values()), counts


def test_table_bounds() -> None:
    assert table({"a": 75, "b": 25}) == ((7500, 10000), ("a", "b"))
    assert table({"b": 100, "a": 0}) == ((10000,), ("b",))
    assert table({}) == ((), ())


def test_split_matches_the_ledger_within_one_percent(two_versions: GitRepo) -> None:
    router = Router(two_versions.path, "prod")
    assert router.traffic == {"support-bot@v1.0.0": 70, "support-bot@v1.1.0": 30}
    counts = Counter(router.route(f"req-{i}").id for i in range(100_000))
    assert abs(counts["support-bot@v1.1.0"] / 100_000 - 0.30) < 0.01
    assert abs(counts["support-bot@v1.0.0"] / 100_000 - 0.70) < 0.01
    version = router.route("req-1")
    assert version.digest.startswith("sha256:") and version.prompt("system")


def test_same_key_same_version_across_processes(two_versions: GitRepo) -> None:
    script = (
        "import sys\nfrom gitmodelver.deploy.router import Router\n"
        f"r = Router({str(two_versions.path)!r}, 'prod')\n"
        "print(','.join(r.route(f'key-{i}').id for i in range(200)))\n"
    )
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    router = Router(two_versions.path, "prod")
    here = ",".join(router.route(f"key-{i}").id for i in range(200)) + "\n"
    assert runs == {here}
    assert "support-bot@v1.0.0" in here and "support-bot@v1.1.0" in here


def test_ledger_change_is_picked_up_without_restart(two_versions: GitRepo) -> None:
    router = Router(two_versions.path, "prod", refresh_interval=0)
    before = {router.route(f"k{i}").id for i in range(500)}
    assert before == {"support-bot@v1.0.0", "support-bot@v1.1.0"}
    assert two_versions.modelver("rollout", "abort", "--env", "prod").code == 0
    after = {router.route(f"k{i}").id for i in range(500)}
    assert after == {"support-bot@v1.0.0"}


def test_sticky_keys_move_only_when_their_share_moves() -> None:
    """Growing the canary's share moves keys only from stable to canary, never back."""
    # the candidate sorts first by name; it must still take the top buckets
    small = table({"z-stable": 95, "a-canary": 5}, "a-canary")
    large = table({"z-stable": 50, "a-canary": 50}, "a-canary")
    import bisect as b

    def pick(t: tuple[tuple[int, ...], tuple[str, ...]], key: str) -> str:
        return t[1][b.bisect_right(t[0], bucket(key))]

    moved = 0
    for i in range(2000):
        if pick(small, f"u{i}") == "a-canary":
            moved += 1
            assert pick(large, f"u{i}") == "a-canary"
    assert 50 < moved < 150


def test_empty_environment_is_a_clear_error(repo: GitRepo) -> None:
    seed(repo)
    router = Router(repo.path, "nowhere")
    with pytest.raises(Exception, match="nothing serves in nowhere"):
        router.route("x")


def test_router_is_exported_lazily(two_versions: GitRepo) -> None:
    import gitmodelver

    router = gitmodelver.Router(str(two_versions.path), env="prod")
    assert router.route("abc").id in {"support-bot@v1.0.0", "support-bot@v1.1.0"}
