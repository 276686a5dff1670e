"""Thousands of versions checked in several processes.

A run over many versions is cut into contiguous parts, one per processor; each part but the first is
checked in a forked copy of the run (the same tags, signature verdicts and manifests read so far), which
sends its reports back through a pipe, with what it learned for the versions index. The reports come back
in order and are those one process gives: a part whose process fails in any way (an error, a kill, a
broken pipe) is checked again here, where its error, if it has one, is raised as one process raises it.

``git config modelver.jobs N`` sets how many processes (1: this one alone); by default, one for each
processor this process may run on, at most ``MAX_JOBS``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

import pygit2

from gitmodelver import advice
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo

T = TypeVar("T")
R = TypeVar("R")

PART_MIN = 500  # versions in a part at least: fewer are checked sooner than a process starts
MAX_JOBS = 8


def jobs(repo: Repo) -> int:
    """The processes a run may use: ``modelver.jobs``, else the processors available (at most
    ``MAX_JOBS``)."""
    if not hasattr(os, "fork"):  # Windows: one process
        return 1
    try:
        raw = str(repo.git.config["modelver.jobs"])
    except (KeyError, pygit2.GitError):
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        return min(len(usable), MAX_JOBS)
    count = int(raw) if raw.strip().isdigit() else 0
    if count < 1:
        raise UsageError(
            f"git config modelver.jobs is {raw!r}: give a number of processes (1 or more)",
            fix=advice.command("git", "config", "--unset", "modelver.jobs"),
        )
    return count


def parts(items: list[T], count: int) -> list[list[T]]:
    """``items`` in ``count`` contiguous parts of nearly equal size, each of ``PART_MIN`` at least (fewer
    parts when there are not that many items)."""
    count = max(1, min(count, len(items) // PART_MIN))
    size, extra = divmod(len(items), count)
    cut, found = 0, []
    for i in range(count):
        end = cut + size + (1 if i < extra else 0)
        found.append(items[cut:end])
        cut = end
    return found


def run_parts(
    chunks: list[list[T]],
    check: Callable[[list[T]], list[R]],
    learned: Callable[[], object],
    learn: Callable[[object], None],
    forked: Callable[[], None],
) -> list[R]:
    """``check`` of every part, in order: the first here, each other in a forked process.

    ``forked`` is called first in each forked process (to open what a process must not share, such as
    its repository handle); ``learned`` after its part, and what it returns (picklable) is given to
    ``learn`` here: what the part taught the versions index.
    """
    if len(chunks) < 2:
        return check(chunks[0]) if chunks else []
    sys.stdout.flush()
    sys.stderr.flush()
    pending = [_fork(chunk, check, learned, forked) for chunk in chunks[1:]]
    try:
        results = check(chunks[0])
        for chunk in chunks[1:]:
            pid, pipe = pending.pop(0)
            results += _collect(pid, pipe, chunk, check, learn)
    finally:
        for pid, pipe in pending:  # a part failed here: the others are not needed
            _stop(pid, pipe)
    return results


def _fork(
    chunk: list[T],
    check: Callable[[list[T]], list[R]],
    learned: Callable[[], object],
    forked: Callable[[], None],
) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(write)
        return pid, read
    os.close(read)
    code = 1
    try:  # the forked process: check, send, and leave without running anything of the parent's
        forked()
        payload = pickle.dumps((check(chunk), learned()), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        code = 0
    except BaseException:  # noqa: BLE001 (the part is checked again in the parent, which raises it)
        pass
    finally:
        os._exit(code)


def _collect(
    pid: int,
    pipe: int,
    chunk: list[T],
    check: Callable[[list[T]], list[R]],
    learn: Callable[[object], None],
) -> list[R]:
    with os.fdopen(pipe, "rb") as stream:
        payload = stream.read()
    _, status = os.waitpid(pid, 0)
    if status == 0 and payload:
        try:
            results, knowledge = pickle.loads(payload)  # noqa: S301 (our own fork wrote it)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return check(chunk)
        learn(knowledge)
        return list(results)
    return check(chunk)


def _stop(pid: int, pipe: int) -> None:
    os.close(pipe)
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
