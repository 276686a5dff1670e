"""Thousands of versions checked in several processes.

A run over many versions is cut into batches of contiguous versions; this process and forked copies of
it (the same tags, signature verdicts and manifests read so far) take the next batch not yet taken until
none is left, so a process slowed by the machine simply takes fewer. Each forked process writes what it
checked, batch by batch as it goes, to a file of its own, then what it learned for the versions index.
The results are put back in order and are those one process gives: a batch whose process failed in any
way (an error, a kill, a file cut short) is checked again here, where its error, if it has one, is raised
as one process raises it.

``git config modelver.jobs N`` sets how many processes (1: this one alone); by default, one for each
processor this process may run on, at most ``MAX_JOBS``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import BinaryIO, TypeVar

import pygit2

from gitmodelver import advice
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo

T = TypeVar("T")
R = TypeVar("R")

PART_MIN = 500  # versions to check per process at least: fewer are checked sooner than a process starts
BATCH = 250  # versions a process takes at a time
MAX_JOBS = 8
MAX_BATCHES = 8192  # their numbers, 4 bytes each, fit in a pipe's 64 KiB


def jobs(repo: Repo) -> int:
    """The processes a run may use: ``modelver.jobs``, else the processors available (at most
    ``MAX_JOBS``), or one when other threads run in this process (a program calling verify from a thread:
    a fork copies only the calling thread, and a lock another one held would never be let go)."""
    if not hasattr(os, "fork"):  # Windows: one process
        return 1
    try:
        raw = str(repo.git.config["modelver.jobs"])
    except (KeyError, pygit2.GitError):
        if threading.active_count() > 1:
            return 1
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        return min(len(usable), MAX_JOBS)
    count = int(raw) if raw.strip().isdigit() else 0
    if count < 1:
        raise UsageError(
            f"git config modelver.jobs is {raw!r}: give a number of processes (1 or more)",
            fix=advice.command("git", "config", "--unset", "modelver.jobs"),
        )
    return count


def processes(work: int, count: int) -> int:
    """How many of ``count`` processes ``work`` versions are worth: ``PART_MIN`` each at least."""
    return max(1, min(count, work // PART_MIN))


def batches(items: list[T], size: int = BATCH) -> list[list[T]]:
    """``items`` in contiguous batches of ``size`` (the last one shorter), at most ``MAX_BATCHES`` of
    them (larger batches for a longer list: their numbers must fit in a pipe)."""
    size = max(size, -(-len(items) // MAX_BATCHES))
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Queue:
    """The batches not taken yet, shared by the processes of a run: their numbers in a pipe, written all
    at once; a process reads one number at a time (a pipe hands each byte to one reader), so a process
    that dies holds nothing the others wait for."""

    SIZE = 4  # bytes a number takes

    def __init__(self, count: int) -> None:
        self.read, write = os.pipe()
        try:
            os.write(write, b"".join(i.to_bytes(self.SIZE, "little") for i in range(count)))
        finally:
            os.close(write)  # then an empty pipe reads as its end

    def take(self) -> int | None:
        taken = os.read(self.read, self.SIZE)
        return int.from_bytes(taken, "little") if len(taken) == self.SIZE else None

    def close(self) -> None:
        os.close(self.read)


def run_shared(
    work: list[list[T]],
    check: Callable[[list[T]], list[R]],
    count: int,
    learned: Callable[[], object],
    learn: Callable[[object], None],
    forked: Callable[[], None],
) -> list[R]:
    """``check`` of every batch of ``work``, in order, shared among ``count`` processes (this one and
    forked ones), each taking the next batch not taken yet.

    ``forked`` is called first in each forked process (to open what a process must not share, such as
    its repository handle); ``learned`` when it has no batch left, and what it returns (picklable) is
    given to ``learn`` here: what its batches taught the versions index.
    """
    if count < 2 or len(work) < 2:
        return [result for batch in work for result in check(batch)]
    sys.stdout.flush()
    sys.stderr.flush()
    queue = _Queue(len(work))
    children: list[tuple[int, BinaryIO]] = []
    done: dict[int, list[R]] = {}
    try:
        children = [_fork(work, check, queue, learned, forked) for _ in range(count - 1)]
        _take(work, check, queue, done.__setitem__)
        while children:
            pid, out = children.pop(0)
            done.update(_collect(pid, out, learn))
    finally:
        for pid, out in children:  # interrupted: the others are not needed
            _stop(pid, out)
        queue.close()
    # what a process that failed had taken is checked here, in order, as one process would
    return [result for i, batch in enumerate(work) for result in (done[i] if i in done else check(batch))]


def _take(
    work: list[list[T]],
    check: Callable[[list[T]], list[R]],
    queue: _Queue,
    keep: Callable[[int, list[R]], None],
) -> None:
    """Batches taken, checked and kept until none is left; a batch that fails ends this process's share
    (the others go on): it is checked again in order, and so raises where one process would."""
    while (i := queue.take()) is not None:
        try:
            results = check(work[i])
        except Exception:  # noqa: BLE001 (raised again by the check in order)
            break
        keep(i, results)


def _fork(
    work: list[list[T]],
    check: Callable[[list[T]], list[R]],
    queue: _Queue,
    learned: Callable[[], object],
    forked: Callable[[], None],
) -> tuple[int, BinaryIO]:
    """A forked process taking batches; it writes each batch's results to a file of its own as it goes
    (so they are ready when it ends), then what it learned."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _collect or _stop)
    pid = os.fork()
    if pid != 0:
        return pid, out
    code = 1
    try:  # the forked process: check, write, and leave without running anything of the parent's
        forked()
        _take(work, check, queue, lambda i, results: pickle.dump((i, results), out, _PROTOCOL))
        pickle.dump((_LEARNED, learned()), out, _PROTOCOL)
        out.flush()
        code = 0
    except BaseException:  # noqa: BLE001 (its batches are checked again in the parent, which raises)
        pass
    finally:
        os._exit(code)


_PROTOCOL = pickle.HIGHEST_PROTOCOL
_LEARNED = -1  # the record of what a process learned, after its batches


def _collect(pid: int, out: BinaryIO, learn: Callable[[object], None]) -> dict[int, list[R]]:
    """What a forked process checked, by batch; nothing when it failed (its batches are checked again)."""
    _, status = os.waitpid(pid, 0)
    done: dict[int, list[R]] = {}
    knowledge: object = None
    with out:
        if status != 0:
            return {}
        out.seek(0)
        try:
            while True:
                i, value = pickle.load(out)  # noqa: S301 (our own fork wrote it)
                if i == _LEARNED:
                    knowledge = value
                    break
                done[i] = value
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return {}  # cut short: checked again
    learn(knowledge)
    return done


def _stop(pid: int, out: BinaryIO) -> None:
    out.close()
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
