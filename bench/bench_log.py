"""`log --json` on a repository with N versions against `git for-each-ref` printing every tag's message
(the floor: the same information, from git itself) in the same run.

    python bench/bench_log.py [--versions 10000]

Target: <= 4x the floor at 10,000 versions; <= 2 s at 100,000. bench/bench_scale.py draws the curve, with
GTO beside it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import MODELVER, report, timed
from _history import build

FOR_EACH_REF = ["for-each-ref", "--format=%(refname) %(contents)", "refs/tags"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        start = time.perf_counter()
        build(path, args.versions)
        print(f"built {args.versions} versions in {time.perf_counter() - start:.1f}s")
        floor = timed(["git", "-C", str(path), *FOR_EACH_REF])
        log = [*MODELVER, "-C", str(path), "log", "--json"]
        shutil.rmtree(path / ".git" / "modelver", ignore_errors=True)
        cold_start = time.perf_counter()
        subprocess.run(log, capture_output=True, check=True)
        cold = time.perf_counter() - cold_start
        ours = timed(log)
        label = f"log --json ({args.versions} versions)"
        report(f"{label}, first run (no index)", cold, floor, "for-each-ref with messages", "-")
        report(label, ours, floor, "for-each-ref with messages", "<= 4x at 10,000; <= 2 s at 100,000")


if __name__ == "__main__":
    main()
