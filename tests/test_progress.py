"""Progress bars: on a terminal only, never with --quiet or --json, never in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
from helpers import GitRepo, seed


def stderr_of(repo: GitRepo, *args: str, tty: bool) -> str:
    """What ``git modelver ARGS`` writes to stderr, a 100-column terminal or a pipe."""
    argv = [sys.executable, "-m", "gitmodelver", "-C", str(repo.path), *args]
    if not tty:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait()
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def released(repo: GitRepo) -> GitRepo:
    seed(repo)
    for n, text in enumerate(("Be brief.\n", "Be kind.\n")):
        assert repo.modelver("release").code == 0
        repo.write("prompts/system.j2", text)
        assert repo.modelver("lock").code == 0
        repo.commit_all(f"edit {n}")
    assert repo.modelver("release").code == 0
    return repo


def test_verify_all_shows_progress_on_a_terminal(released: GitRepo) -> None:
    shown = stderr_of(released, "verify", "--all", tty=True)
    assert "verify:" in shown and "/3 [" in shown and "version/s" in shown  # count, total, rate


@pytest.mark.parametrize(("flags", "tty"), [(("--quiet",), True), (("--json",), True), ((), False)])
def test_no_progress_when_asked_or_not_a_terminal(
    released: GitRepo, flags: tuple[str, ...], tty: bool
) -> None:
    assert "verify:" not in stderr_of(released, "verify", "--all", *flags, tty=tty)
