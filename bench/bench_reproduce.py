"""`reproduce` of a version with 1 GiB of weights from a warm local DVC cache, against what a person does
by hand in the same run: `git worktree add` + pointing the worktree at the cache + `dvc checkout`.

    python bench/bench_reproduce.py [--size-mib 1024] [--repeat 7] [--cache-type hardlink]

Target (issue 3): within 1.2x of the baseline. Reported twice: the first reproduce, which also hashes the
cache objects it materializes from, and the next ones, where those hashes are known (inode, size, times).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MODELVER

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = """\
[system]
name = "bench"

[weights.adapter]
dvc = "models/adapter.safetensors.dvc"

[prompts.system]
path = "prompts/system.j2"

[parameters]
temperature = 0.2
"""


def sh(argv: list[str], cwd: Path | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def build(repo: Path, size_mib: int, cache_type: str | None) -> None:
    sh(["git", "init", "-q", "-b", "main", str(repo)])
    sh(["git", "-C", str(repo), "config", "user.name", "Bench"])
    sh(["git", "-C", str(repo), "config", "user.email", "bench@example.com"])
    sh([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo)
    if cache_type:
        sh([sys.executable, "-m", "dvc", "config", "cache.type", cache_type], cwd=repo)
    (repo / "models").mkdir()
    with (repo / "models" / "adapter.safetensors").open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    (repo / "prompts").mkdir()
    (repo / "prompts" / "system.j2").write_text("You are a helpful assistant.\n")
    sh([sys.executable, "-m", "dvc", "add", "-q", "models/adapter.safetensors"], cwd=repo)
    (repo / "modelver.toml").write_text(MANIFEST)
    sh(["git", "-C", str(repo), "add", "-A"])
    sh(["git", "-C", str(repo), "commit", "-q", "-m", "seed"])
    sh([*MODELVER, "-C", str(repo), "release", "--no-sign"])


def drop(repo: Path, dest: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(dest)], capture_output=True)
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
    os.sync()  # dirty pages of the last copy must not slow down the next measurement
    time.sleep(0.5)


def by_hand(repo: Path, dest: Path) -> float:
    start = time.perf_counter()
    sh(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(dest), "bench@v1.0.0"])
    # Without this the worktree has no cache at all: the least a person must do.
    (dest / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {repo / '.dvc' / 'cache'}\n")
    sh([sys.executable, "-m", "dvc", "checkout", "-q"], cwd=dest)
    return time.perf_counter() - start


def ours(repo: Path, dest: Path) -> float:
    start = time.perf_counter()
    sh([*MODELVER, "-C", str(repo), "reproduce", "bench@v1.0.0", "--to", str(dest)])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cache-type", help="DVC cache.type for the run (default: DVC's reflink,copy)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, dest = Path(tmp) / "repo", Path(tmp) / "wt"
        start = time.perf_counter()
        build(repo, args.size_mib, args.cache_type)
        print(f"built a release with {args.size_mib} MiB of weights in {time.perf_counter() - start:.1f}s")
        link = args.cache_type or "reflink,copy (DVC's default)"
        drop(repo, dest)
        first = ours(repo, dest)
        baseline, warm = [], []
        for i in range(args.repeat):
            # ABBA order: deleting a gigabyte leaves the file system busy for the next copy, which must
            # not always fall to the same side.
            for side in ("hand", "ours") if i % 2 == 0 else ("ours", "hand"):
                drop(repo, dest)
                if side == "hand":
                    baseline.append(by_hand(repo, dest))
                else:
                    warm.append(ours(repo, dest))
        drop(repo, dest)
        base, steady = statistics.median(baseline), statistics.median(warm)
        print(f"cache.type {link}; medians of {args.repeat} runs each, ABBA order (min in brackets)")
        print(f"git worktree add + dvc checkout (baseline): {base:.2f} s [{min(baseline):.2f}]")
        print(f"reproduce, first (hashes the cache object):  {first:.2f} s; ratio {first / base:.2f}x")
        print(
            f"reproduce, object hashes known:              {steady:.2f} s [{min(warm):.2f}]; "
            f"ratio {steady / base:.2f}x (min {min(warm) / min(baseline):.2f}x); target <= 1.2x"
        )


if __name__ == "__main__":
    main()
