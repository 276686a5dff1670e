"""The one way this package runs other programs: argument lists, no shell, errors that show everything."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitmodelver.errors import GitFailed, UsageError


class ProcessResult:
    __slots__ = ("args", "returncode", "stdout", "stderr")

    def __init__(self, args: Sequence[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def _env(extra: Mapping[str, str] | None, parse: bool) -> dict[str, str]:
    env = dict(os.environ)
    if parse:
        # Output we parse must not change with the user's locale.
        env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def run(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
    parse: bool = True,
) -> ProcessResult:
    """Run a program; with ``check`` a non-zero exit raises GitFailed showing command, code and output."""
    import subprocess  # most hook runs start no program: they do not load it

    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=_env(env, parse),
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise UsageError(f"{args[0]}: command not found: install it, or put it on PATH") from exc
    result = ProcessResult(args, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise GitFailed(describe(result))
    return result


def first_error_line(text: str) -> str:
    """The line that says what went wrong: git's first ``fatal:``/``error:`` line, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else "no output"


def describe(result: ProcessResult) -> str:
    cmd = " ".join(result.args)
    return f"`{cmd}` exited {result.returncode}: {first_error_line(result.err or result.out)}"


def git(
    repo: str | Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> ProcessResult:
    return run(["git", "-C", str(repo), *args], env=env, stdin=stdin, check=check)
