"""``help [COMMAND…]``: argparse's help of git modelver or of one command, without going through man."""

from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.commands._manpage import subcommands
from gitmodelver.errors import UsageError


def find(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The parser of the command ``words`` names (``["rollout", "start"]``); UsageError if none does."""
    for depth, word in enumerate(words):
        names = {name: sub for name, _, sub in subcommands(parser)}
        if word not in names:
            known = " ".join(words[:depth])
            where = f"`{parser.prog}`" if known else "git modelver"
            raise UsageError(
                f"{where} has no command '{word}'; the commands are: {', '.join(names) or 'none'}",
                fix=f"git modelver help {known}".rstrip(),
            )
        parser = names[word]
    return parser


def run(args: argparse.Namespace) -> int:
    from gitmodelver.cli import build_parser

    output.say(find(build_parser(), args.topic).format_help().rstrip("\n"))
    return 0
