"""``completion bash|zsh``: the shell completion script, generated from the parser by shtab.

Version, environment and system names are completed from the repository at TAB time by small shell
functions (plain git, so a TAB never waits for Python).
"""

from __future__ import annotations

import argparse

from gitmodelver import output

# metavar -> the shell function completing it (defined in PREAMBLE); other values fall back to shtab's
FUNCTIONS = {
    "VERSION": "_git_modelver_versions",
    "ENV": "_git_modelver_envs",
    "NAME": "_git_modelver_systems",
    "A": "_git_modelver_versions",
    "B": "_git_modelver_versions",
}
PATHS = {"PATH": "dir", "DIR": "dir", "GIT_DIR": "dir", "FILE": "file"}

_QUERIES = """\
_git_modelver_list_versions() { git tag --list '*@v*' 2>/dev/null; echo HEAD; }
_git_modelver_list_envs() {
  git ls-tree --name-only refs/heads/modelver/ledger events/ 2>/dev/null \\
    | sed -n -e 's|^events/\\(.*\\)\\.jsonl$|\\1|p' -e 't' -e 's|^events/\\([^/]*\\)$|\\1|p' | sort -u
}
_git_modelver_list_systems() { git tag --list '*@v*' 2>/dev/null | sed 's/@v.*//' | sort -u; }
"""

PREAMBLE = {
    # bash: shtab calls the function with the word being completed and reads candidates from stdout
    "bash": _QUERIES
    + """\
_git_modelver_versions() { compgen -W "$(_git_modelver_list_versions)" -- "$1"; }
_git_modelver_envs() { compgen -W "$(_git_modelver_list_envs)" -- "$1"; }
_git_modelver_systems() { compgen -W "$(_git_modelver_list_systems)" -- "$1"; }
""",
    # zsh: the functions are _arguments actions and add their candidates themselves
    "zsh": _QUERIES
    + """\
_git_modelver_versions() { compadd -- ${(f)"$(_git_modelver_list_versions)"}; }
_git_modelver_envs() { compadd -- ${(f)"$(_git_modelver_list_envs)"}; }
_git_modelver_systems() { compadd -- ${(f)"$(_git_modelver_list_systems)"}; }
""",
}

# git's bash completion runs `_git_modelver` for `git modelver …`, with its own `words`/`cword` (which
# keep `--opt=value` whole) and `__git_cmd_idx` (where `modelver` is, after `git -C dir` and the like).
GIT_BASH = """
_git_modelver() {
  local COMP_WORDS=(git-modelver "${words[@]:${__git_cmd_idx:-1}+1}")
  local COMP_CWORD=$((cword - ${__git_cmd_idx:-1}))
  _shtab_git_modelver
}
"""


def annotate(parser: argparse.ArgumentParser) -> None:
    """Give every argument whose values can be listed a shtab ``complete`` attribute."""
    import shtab

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                annotate(sub)
        elif action.choices is None and isinstance(action.metavar, str):
            if action.metavar in FUNCTIONS:
                name = FUNCTIONS[action.metavar]
                action.complete = {"bash": name, "zsh": name}  # type: ignore[attr-defined]
            elif action.metavar in PATHS:
                action.complete = shtab.DIR if PATHS[action.metavar] == "dir" else shtab.FILE  # type: ignore[attr-defined]


def script(shell: str) -> str:
    import shtab

    from gitmodelver.cli import build_parser

    parser = build_parser()
    parser.prog = "git-modelver"  # the command the script registers (`git modelver` is git's business)
    annotate(parser)
    # shtab takes a {shell: text} preamble too, though its annotation says str
    text = shtab.complete(parser, shell=shell, root_prefix="git_modelver", preamble=PREAMBLE)  # type: ignore[arg-type]
    return text + GIT_BASH if shell == "bash" else text


def run(args: argparse.Namespace) -> int:
    output.say(script(args.shell).rstrip("\n"))
    return 0
