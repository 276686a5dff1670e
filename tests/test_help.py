"""`git modelver --help` is `man git-modelver`: the page, `help`, completion, help text on every option."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmodelver.cli import build_parser, main
from gitmodelver.commands import _manpage, completion

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "man" / "git-modelver.1"


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for _, _, sub in _manpage.subcommands(parser):
        yield from parsers(sub)


def test_committed_man_page_is_the_parser() -> None:
    assert PAGE.read_text("utf-8") == _manpage.render(build_parser()), (
        "man/git-modelver.1 is out of date: python -m gitmodelver.commands._manpage > man/git-modelver.1"
    )


def test_man_page_has_every_command_and_option() -> None:
    page = _manpage.render(build_parser())
    assert '.SS "rollout start"' in page and '.SS "completion"' in page
    assert "\\fB\\-\\-allow\\-stale\\fR" in page
    assert "100%%" not in page and "%(" not in page


def test_every_option_has_help() -> None:
    missing = [
        f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_every_command_has_help() -> None:
    for parser in parsers(build_parser()):
        for name, text, _ in _manpage.subcommands(parser):
            assert text, f"{parser.prog} {name}"


@pytest.mark.parametrize(
    ("words", "expected"),
    [([], "usage: git modelver [-h]"), (["release"], "--allow-stale"), (["rollout", "start"], "--steps")],
)
def test_help_command(words: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help", *words]) == 0
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize("words", [["nope"], ["rollout", "nope"]])
def test_help_unknown_command_lists_the_commands(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["help", *words]) == 2
    err = capsys.readouterr().err
    assert f"no command '{words[-1]}'" in err
    assert ("start, step, watch" if len(words) > 1 else "init, track, lock") in err


def run_bash(script: Path, words: str, cwd: Path) -> str:
    """COMPREPLY for `words` (the last is completed), via `_git_modelver` as git's completion calls it."""
    driver = f"""
source {script}
words=({words}); cword=$((${{#words[@]}} - 1)); __git_cmd_idx=1
_git_modelver
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    return subprocess.run(["bash", "-c", driver], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_bash_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "git-modelver.bash"
    script.write_text(capsys.readouterr().out)
    subprocess.run(["bash", "-n", str(script)], check=True)
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run([*git, "tag", "bot@v1.0.0"], check=True)
    assert run_bash(script, "git modelver sta", repo).split() == ["status"]
    assert run_bash(script, "git modelver rollout ''", repo).split() == [
        "start",
        "step",
        "watch",
        "abort",
        "status",
    ]
    assert run_bash(script, "git modelver show bot@", repo).split() == ["bot@v1.0.0"]
    assert run_bash(script, "git modelver completion ''", repo).split() == ["bash", "zsh"]


def test_zsh_completion(tmp_path: Path) -> None:
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed (.ci/run installs it with apt-get when it can)")
    script = tmp_path / "_git-modelver"
    script.write_text(completion.script("zsh"))
    subprocess.run(["zsh", "-n", str(script)], check=True)
    assert "#compdef git-modelver" in script.read_text()


def modern_setuptools() -> bool:
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return False
    return major >= 77  # pyproject.toml's build requirement (a PEP 639 license string)


def test_pip_install_puts_the_page_where_git_help_finds_it(tmp_path: Path) -> None:
    if not shutil.which("man"):
        pytest.skip("man is not installed (.ci/run installs man-db with apt-get when it can)")
    venv = tmp_path / "venv"
    # No pip of its own: the venv uses this Python's pip and, with --no-deps, its installed dependencies.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True
    )
    # Without build isolation when this Python's setuptools can build us; else pip fetches setuptools.
    isolation = ["--no-build-isolation"] if modern_setuptools() else []
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", *isolation, str(ROOT)],
        check=True,
        timeout=120,
    )
    assert (venv / "share" / "man" / "man1" / "git-modelver.1").read_text("utf-8") == PAGE.read_text("utf-8")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "MANPAGER": "cat"}
    env.pop("MANPATH", None)  # man derives <venv>/share/man from <venv>/bin on PATH
    for command in (["git", "modelver", "--help"], ["git", "help", "modelver"], ["man", "git-modelver"]):
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (command, done.stderr)
        assert "GIT-MODELVER(1)" in done.stdout and "rollout start" in done.stdout, command
