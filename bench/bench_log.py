"""`log --json` on a repository with N versions against `git for-each-ref refs/tags` (the floor).

    python bench/bench_log.py [--versions 10000] [--gto 1000]

Target: <= 0.5 s wall and within 10x of for-each-ref. With --gto N, also times `gto show` on N versions.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pygit2
from _common import MODELVER, init_repo, manifest, report, timed

from gitmodelver.core import digest


def build(path: Path, versions: int) -> None:
    repo = init_repo(path)
    who = pygit2.Signature("Bench", "bench@example.com", int(time.time()) - versions, 0)
    parent: list[pygit2.Oid] = []
    for i in range(versions):
        version = f"{1 + i // 100}.{i % 100}.0"
        text = manifest(version, prompts=0, temperature=round(0.1 + (i % 7) / 10, 2))
        tree_builder = repo.TreeBuilder()
        tree_builder.insert("modelver.toml", repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        commit = repo.create_commit(None, who, who, f"Release bench v{version}", tree_builder.write(), parent)
        parent = [commit]
        message = (
            f"bench v{version} (patch)\n\nparameters.temperature changed\n\n"
            f"Modelver-Digest: {digest.sha256_digest(i)}\nModelver-State: {digest.sha256_digest(-i)}\n"
            f"Modelver-Bump: patch\n"
        )
        repo.create_tag(f"bench@v{version}", commit, pygit2.enums.ObjectType.COMMIT, who, message)
    repo.references.create("refs/heads/main", parent[0], force=True)
    subprocess.run(["git", "-C", str(path), "gc", "-q"], check=True)  # as `gc --auto` would have done
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--gto", type=int, default=0, help="also time GTO on this many versions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        start = time.perf_counter()
        build(path, args.versions)
        print(f"built {args.versions} versions in {time.perf_counter() - start:.1f}s")
        floor = timed(
            ["git", "-C", str(path), "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags"]
        )
        ours = timed([*MODELVER, "-C", str(path), "log", "--json"])
        report(f"log --json ({args.versions} versions)", ours, floor, "git for-each-ref", "<= 500 ms, <= 10x")
        if args.gto and shutil.which("gto"):
            small = Path(tmp) / "small"
            build(small, args.gto)
            gto = timed(["gto", "show", "bench", "--json"], cwd=small, repeat=1)
            ours_small = timed([*MODELVER, "-C", str(small), "log", "--json"], repeat=3)
            print(
                f"{args.gto} versions: gto show {gto:.2f} s; git modelver log {ours_small * 1000:.0f} ms; "
                f"{gto / ours_small:.0f}x faster"
            )


if __name__ == "__main__":
    main()
