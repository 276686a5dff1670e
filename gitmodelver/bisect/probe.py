"""Running the user's test command on one state, and reading its exit code like ``git bisect run``.

0 is good, 125 means "cannot test this one" (skip), 1-127 is bad, and 128 or more (or a signal) aborts
the whole bisect: a crash of the harness must not be mistaken for a regression. A program that cannot
start at all is a usage error, reported before any state is judged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.bisect.evidence import Observation
from gitmodelver.bisect.search import Verdict
from gitmodelver.core.manifest import Manifest
from gitmodelver.dvc import dvcops
from gitmodelver.errors import CheckFailed, UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import WorkTree

SKIP = 125
# Variables that would point the command's own git calls at the main checkout instead of the probe.
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")
TAIL_LINES = 5


@dataclass(frozen=True)
class Run:
    code: int
    verdict: Verdict
    seconds: float
    tail: str  # the last lines the command printed, for the log and for error messages
    observation: Observation | None = None  # what the run measured, when bisecting by a metric


def display(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def check_startable(argv: Sequence[str]) -> None:
    """Fail early when the program is not on PATH: a missing program must never read as "bad".

    A program given as a path (``./check.sh``) is looked up in the probe itself, where the command runs.
    """
    if not argv:
        raise UsageError(
            "no command to run: put it after --, as in `git modelver bisect --good A --bad B -- ./check.sh`"
        )
    program = argv[0]
    if "/" not in program and shutil.which(program) is None:
        raise UsageError(f"{program}: command not found: install it, or put the folder it is in on PATH")


def verdict_of(code: int) -> Verdict | None:
    """The meaning of an exit code; None means abort (128 and above, or killed by a signal)."""
    if code == 0:
        return Verdict.GOOD
    if code == SKIP:
        return Verdict.SKIP
    if 0 < code < 128:
        return Verdict.BAD
    return None


def environment(variables: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION}
    env.update(variables)
    return env


def run(argv: Sequence[str], cwd: Path, variables: Mapping[str, str], output: Path, label: str) -> Run:
    """Run the command in ``cwd``; everything it prints goes to ``output`` (kept with the bisect log)."""
    start = time.perf_counter()
    try:
        with output.open("wb") as sink:
            proc = subprocess.run(
                list(argv), cwd=cwd, env=environment(variables), stdout=sink, stderr=subprocess.STDOUT
            )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise UsageError(
            f"`{display(argv)}` cannot start in {label}: {exc.strerror or exc}; check the program's path "
            "(a relative path starts in the probe's worktree)"
        ) from exc
    seconds = time.perf_counter() - start
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode  # -N: killed by signal N
    tail = _tail(output)
    verdict = verdict_of(code)
    if verdict is None:
        raise CheckFailed(
            f"bisect aborted: `{display(argv)}` exited {code} on {label}"
            + (f" ({tail.splitlines()[-1]})" if tail else "")
            + "; exit codes 128 and above stop a bisect: exit 125 to skip a version, 1-127 to mark it bad"
        )
    return Run(code, verdict, seconds, tail)


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        lines = f.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-TAIL_LINES:])


class Workspace:
    """The one worktree every probe reuses, under ``.git/modelver/bisect``; switching states is a
    forced checkout plus ``git clean -fdx``, so nothing one probe wrote can leak into the next."""

    def __init__(self, repo: Repo, folder: Path) -> None:
        self.repo = repo
        self.path = folder / "worktree"
        self._store: dvcops.Store | None = None

    def create(self, commit: str) -> None:
        self.remove()  # the leftovers of a bisect that crashed
        self.repo.run("worktree", "add", "--quiet", "--detach", str(self.path), commit)

    def reset(self, commit: str) -> None:
        git = ("-C", str(self.path))
        self.repo.run(*git, "checkout", "--quiet", "--detach", "--force", commit)
        self.repo.run(*git, "clean", "-q", "-ffdx")

    def remove(self) -> None:
        if self.path.exists():
            self.repo.run("worktree", "remove", "--force", str(self.path), check=False)
            shutil.rmtree(self.path, ignore_errors=True)
        self.repo.run("worktree", "prune", check=False)

    def cwd(self) -> Path:
        """Where the command runs: the probe's copy of the folder the user stands in."""
        here = self.path / self.repo.relative_cwd()
        return here if here.is_dir() else self.path

    def checkout_weights(self, m: Manifest) -> int:
        """Link the DVC outputs the probe's manifest names from the main cache (pulling what it lacks)."""
        outs, unresolved = dvcops.outputs(WorkTree(self.path), m)
        if unresolved:
            raise UsageError(
                f"{m.file}: {unresolved[0]}; run the bisect again with --no-weights to skip weights"
            )
        if not outs:
            return 0
        if self._store is None:
            self._store = dvcops.Store.open(self.repo.root)
        dvcops.ensure(self._store, outs, None)
        dvcops.share_cache(self._store, self.path)
        dvcops.checkout(self.path, [o.target for o in outs])
        return len(outs)


class StepLog:
    """Every step as one JSON line, written as it happens, so a crashed bisect can still be read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "log.jsonl"
        self.outputs = folder / "output"

    def start(self, header: Mapping[str, Any]) -> None:
        if self.file.exists():  # keep the previous bisect's log next to the new one
            os.replace(self.file, self.folder / "log.previous.jsonl")
        shutil.rmtree(self.outputs, ignore_errors=True)
        self.outputs.mkdir(parents=True)
        self.write({"event": "start", **header})

    def output_file(self, number: int) -> Path:
        return self.outputs / f"{number:04d}.txt"

    def write(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **entry})
        with self.file.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
