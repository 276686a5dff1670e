"""`status` on a system with N prompt files (one edited) against `git status` in the same run.

    python bench/bench_status.py [--prompts 1000] [--versions 200]

Target: <= 300 ms wall.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from _common import MODELVER, report, timed


def build(path: Path, prompts: int, versions: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    (path / "prompts").mkdir()
    lines = ["[system]", 'name = "bench"', "", "[parameters]", "temperature = 0.2", ""]
    for i in range(prompts):
        (path / "prompts" / f"p{i}.j2").write_text(f"Prompt number {i}: answer about {{{{ topic }}}}.\n" * 20)
        lines += [f"[prompts.p{i}]", f'path = "prompts/p{i}.j2"', ""]
    (path / "modelver.toml").write_text("\n".join(lines))
    modelver = [*MODELVER, "-C", str(path)]
    subprocess.run([*modelver, "lock"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "seed"], check=True)
    subprocess.run([*modelver, "release"], check=True, capture_output=True)
    for i in range(1, versions):
        text = (path / "modelver.toml").read_text()
        (path / "modelver.toml").write_text(
            re.sub(r"temperature = \S+", f"temperature = {0.2 + i / 1000}", text)
        )
        subprocess.run(["git", "-C", str(path), "commit", "-qam", f"tune {i}"], check=True)
        subprocess.run([*modelver, "release"], check=True, capture_output=True)
    (path / "prompts" / "p7.j2").write_text("An edited prompt.\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        build(path, args.prompts, args.versions)
        base = timed(["git", "-C", str(path), "status", "--porcelain"])
        cold = timed([*MODELVER, "-C", str(path), "status", "--json"], repeat=1, warmup=False)
        ours = timed([*MODELVER, "-C", str(path), "status", "--json"])
        label = f"status ({args.prompts} prompts, {args.versions} versions)"
        report(f"{label}, first run", cold, base, "git status", "<= 300 ms")
        report(f"{label}, warm", ours, base, "git status", "<= 300 ms")


if __name__ == "__main__":
    main()
