"""atomic_write: the old file or the new one, never half of one, never another process's temporary."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gitmodelver.gitstore.fsutil import atomic_write


def test_replaces_the_bytes_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "modelver.toml"
    path.write_bytes(b"old\r\n")
    path.chmod(0o640)
    atomic_write(path, b"new\r\n")
    assert path.read_bytes() == b"new\r\n"  # bytes as given: no newline translation
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modelver.toml"]


def test_the_temporary_file_is_this_process_s_own(tmp_path: Path) -> None:
    """Two processes locking at once must not write into one temporary file."""
    path = tmp_path / "modelver.toml"
    blocker = tmp_path / f".modelver.toml.{os.getpid()}.tmp"
    blocker.mkdir()  # our own temporary name is taken: the write fails, nothing else is touched
    with pytest.raises(OSError):
        atomic_write(path, b"new")
    assert not path.exists()
    blocker.rmdir()
    other = tmp_path / ".modelver.toml.tmp"  # the name a pid-less writer would share with others
    other.write_bytes(b"another process's half-written file")
    atomic_write(path, b"new")
    assert other.read_bytes() == b"another process's half-written file" and path.read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "modelver.toml"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modelver.toml"]
