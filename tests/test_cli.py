"""Every command's --help works (argparse formats help text with %-interpolation)."""

from __future__ import annotations

import contextlib
import io

import pytest

from gitmodelver.cli import build_parser, main

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command: str | None) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([command, "--help"] if command else ["--help"])
    assert exit_.value.code == 0
    assert "usage: git modelver" in out.getvalue()
    assert "%%" not in out.getvalue()


@pytest.mark.parametrize("action", ["start", "step", "watch", "abort", "status"])
def test_rollout_help(action: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["rollout", action, "--help"])
    assert exit_.value.code == 0


def test_no_command_prints_help_and_exits_2() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([]) == 2
    assert "COMMAND" in out.getvalue()
