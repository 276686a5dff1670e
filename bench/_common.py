"""Shared helpers for the benchmark scripts: build big repositories fast, time whole commands."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pygit2

MODELVER = [sys.executable, "-m", "gitmodelver"]


def timed(argv: list[str], cwd: Path | None = None, repeat: int = 5, warmup: bool = True) -> float:
    """Median wall time of a whole command, in seconds (a first run discarded as warm-up)."""
    env = {**os.environ, "LC_ALL": "C"}
    if warmup:
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def manifest(version: str | None, prompts: int = 2, temperature: float = 0.2) -> str:
    lines = ["[system]", 'name = "bench"']
    if version:
        lines.append(f'version = "{version}"')
    lines += ["", "[parameters]", f"temperature = {temperature}", ""]
    for i in range(prompts):
        lines += [f"[prompts.p{i}]", f'path = "prompts/p{i}.txt"', ""]
    return "\n".join(lines)


def init_repo(path: Path) -> pygit2.Repository:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.name", "Bench"], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.email", "bench@example.com"], check=True)
    return pygit2.Repository(str(path))


def report(name: str, ours: float, baseline: float, baseline_name: str, target: str) -> None:
    print(
        f"{name}: {ours * 1000:.0f} ms; {baseline_name}: {baseline * 1000:.0f} ms; "
        f"ratio {ours / baseline:.1f}x; target {target}"
    )


ROOT = Path(__file__).resolve().parent.parent
PROMPTS = {f"p{i}": f"You are prompt {i}; answer about {{{{ topic }}}}.\n".encode() for i in range(5)}


def signing_key(folder: Path) -> tuple[Path, Path]:
    """A throwaway SSH signing key and an allowed-signers file that trusts it."""
    private = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)], check=True)
    allowed = folder / "allowed_signers"
    allowed.write_text(
        f'bench@example.com namespaces="git" {private.with_suffix(".pub").read_text().strip()}\n'
    )
    return private, allowed


def run_once(argv: list[str], cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """One timed run of a whole command, with this checkout's package first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start, proc
