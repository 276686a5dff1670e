"""What the hook tests share: `git-modelver` on PATH as git and pre-commit will call it, and releases."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from helpers import GitRepo

from gitmodelver.core.semver import Version
from gitmodelver.gitstore import system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.release import execute, plan

ROOT = Path(__file__).resolve().parent.parent


def install_bin(folder: Path) -> Path:
    """A `git-modelver` that runs this checkout, whatever is installed: hooks find it on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "git-modelver"
    exe.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" -m gitmodelver "$@"\n'
    )
    exe.chmod(0o755)
    return folder


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def git(
    cwd: Path, *args: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, input=input, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def release_as(repo: GitRepo, version: str, level: str, *, sign: bool | None = None) -> str:
    """A release at a chosen version, bypassing the computed one: what a careless or hostile
    person could produce by hand, digests and all, to see that the hooks catch the level."""
    r = Repo(repo.path)
    p = plan.make(r, system.select(r, None))
    p = dataclasses.replace(p, next=Version.parse(version), level=level)
    return execute.execute(r, p, sign=sign).tag
