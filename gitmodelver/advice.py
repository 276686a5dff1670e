"""Fixes as a user pastes them into a shell: real commands, every argument quoted.

A fix is printed after an error as ``(fix: COMMAND)`` and must work as it stands: no placeholders, no
prose. Where no single command fixes a problem, the message says what to do and there is no fix.
"""

from __future__ import annotations

import shlex


def command(*words: str) -> str:
    """One command line, each word quoted when the shell would split or expand it."""
    return shlex.join(words)


def modelver(*args: str, system: str | None = None) -> str:
    """``git modelver [--system NAME] ARGS…``: the system is named when a repository holds several."""
    chosen = ("--system", system) if system else ()
    return command("git", "modelver", *chosen, *args)


def chain(*commands: str) -> str:
    """Commands run one after the other, each only when the one before succeeded."""
    return " && ".join(commands)
