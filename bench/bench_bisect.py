"""`bisect` on histories of N versions: runs used against ⌈log2 N⌉ + 2, and the cost of one step.

    python bench/bench_bisect.py [--sizes 64,256,1024]

For each N the regression sits at a random version; the test command is a tiny shell check. The
per-step overhead (no weights) is the bisect's wall time minus the time the command itself ran,
divided by the runs: it includes process start, worktree creation and removal, so it is an upper
bound. Baseline: `git bisect run` with the same command on the same commits, in the same run.
Target: runs == ⌈log2 N⌉ + 2 in the worst case (never more), overhead <= 0.3 s per step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import pygit2
from _common import MODELVER, init_repo

from gitmodelver.core import digest

BAD = "ALWAYS AGREE"
TEST = ["sh", "-c", f'! grep -q "{BAD}" prompts/p0.txt']


def _version(i: int) -> str:
    return f"{1 + i // 100}.{i % 100}.0"


def _manifest(version: str, step: int, pin: str) -> str:
    return (
        f'[system]\nname = "bench"\nversion = "{version}"\n\n[parameters]\nstep = {step}\n\n'
        f'[prompts.p0]\npath = "prompts/p0.txt"\nsha256 = "{pin}"\n'
    )


def build(path: Path, versions: int, bad_at: int) -> None:
    """N signed-off-by-nobody releases crafted with pygit2: what N `release` runs leave behind."""
    repo = init_repo(path)
    who = pygit2.Signature("Bench", "bench@example.com", int(time.time()) - versions, 0)
    parent: list[pygit2.Oid] = []
    for i in range(versions):
        version = _version(i)
        prompt = f"You are a support bot.{' ' + BAD if i >= bad_at else ''}\n".encode()
        text = _manifest(version, i, hashlib.sha256(prompt).hexdigest())
        prompts = repo.TreeBuilder()
        prompts.insert("p0.txt", repo.create_blob(prompt), pygit2.enums.FileMode.BLOB)
        top = repo.TreeBuilder()
        top.insert("modelver.toml", repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        top.insert("prompts", prompts.write(), pygit2.enums.FileMode.TREE)
        commit = repo.create_commit(None, who, who, f"Release bench v{version}", top.write(), parent)
        parent = [commit]
        state = digest.state_digest(tomllib.loads(text))
        message = (
            f"bench v{version} (patch)\n\nparameters.step changed\n\n"
            f"Modelver-Digest: {digest.version_digest(tomllib.loads(text))}\nModelver-State: {state}\n"
            f"Modelver-Bump: patch\n"
        )
        repo.create_tag(f"bench@v{version}", commit, pygit2.enums.ObjectType.COMMIT, who, message)
    repo.references.create("refs/heads/main", parent[0], force=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def ours(path: Path, versions: int) -> tuple[int, float, float]:
    """(runs, wall seconds, seconds spent inside the test command)."""
    argv = [*MODELVER, "-C", str(path), "bisect", "--good", _version(0), "--bad", _version(versions - 1)]
    start = time.perf_counter()
    proc = subprocess.run([*argv, "--json", "--", *TEST], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    report = json.loads(proc.stdout)
    return int(report["runs"]), wall, sum(float(s["seconds"]) for s in report["steps"])


def git_bisect(path: Path, versions: int) -> tuple[int, float]:
    """`git bisect run` over the same commits: (runs, wall seconds)."""
    git = ["git", "-C", str(path)]
    good, bad = (f"refs/tags/bench@v{_version(i)}^{{commit}}" for i in (0, versions - 1))
    start = time.perf_counter()
    subprocess.run([*git, "bisect", "start", bad, good], capture_output=True, check=True)
    proc = subprocess.run([*git, "bisect", "run", *TEST], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    subprocess.run([*git, "bisect", "reset"], capture_output=True, check=True)
    return proc.stdout.count("running "), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,256,1024")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(
        f"{'N':>6} {'bad at':>7} {'runs':>5} {'bound':>6} {'wall':>7} {'per step':>9} {'git bisect run':>15}"
    )
    marginal: list[tuple[int, float]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        bad_at = rng.randrange(1, n)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "repo"
            build(path, n, bad_at)
            runs, wall, inside = ours(path, n)
            git_runs, git_wall = git_bisect(path, n)
        bound = math.ceil(math.log2(n)) + 2
        assert runs <= bound, f"N={n}: {runs} runs > {bound}"
        per_step = (wall - inside) / runs
        git_step = git_wall / max(git_runs, 1)
        marginal.append((runs, wall))
        print(
            f"{n:>6} {bad_at:>7} {runs:>5} {bound:>6} {wall:>6.2f}s {per_step * 1000:>7.0f}ms "
            f"{git_runs:>4} runs {git_step * 1000:>4.0f}ms/step  ratio {per_step / git_step:.1f}x"
        )
    (r0, w0), (r1, w1) = marginal[0], marginal[-1]
    if r1 > r0:
        print(f"marginal cost of one more step: {(w1 - w0) / (r1 - r0) * 1000:.0f} ms; target <= 300 ms")
    print("per step = (wall - time inside the test command) / runs, start-up included; target <= 300 ms")


if __name__ == "__main__":
    main()
