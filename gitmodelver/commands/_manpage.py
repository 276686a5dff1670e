"""The man page ``git-modelver(1)``, written from the argparse parser so the two cannot drift.

``git modelver --help`` and ``git help modelver`` open it. Regenerate the committed copy with
``python -m gitmodelver.commands._manpage > man/git-modelver.1`` (a test fails until it matches).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from gitmodelver import __version__

# Listed once under GLOBAL OPTIONS rather than under every command.
GLOBAL_DESTS = {"help", "directory", "system", "json", "debug"}

EXIT_STATUS = (
    ("0", "done"),
    ("1", "a check failed (gate, verification, nothing to release)"),
    ("2", "usage or input error (bad arguments, invalid manifest, unknown version, not a repository)"),
    ("3", "conflict (a ref moved, the tag exists, another release is running); nothing was changed, retry"),
    ("4", "internal error"),
)


def roff(text: str) -> str:
    """Text safe in a roff line: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def help_text(action: argparse.Action, prog: str) -> str:
    # argparse %-formats help with the action's fields (%(default)s, %(choices)s, %%)
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    if isinstance(params.get("choices"), (list, tuple)):
        params["choices"] = ", ".join(map(str, params["choices"]))
    return (action.help or "") % params


def metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def invocation(action: argparse.Action) -> str:
    """``-o, --output FILE`` or ``VERSION``: how the action is written on the command line."""
    if not action.option_strings:
        return metavar(action)
    names = ", ".join(action.option_strings)
    return names if action.nargs == 0 else f"{names} {metavar(action)}"


def usage_word(action: argparse.Action) -> str:
    if not action.option_strings:
        word = metavar(action)
        if action.nargs in ("*", "+", argparse.REMAINDER):
            word += "…"
        return f"[{word}]" if action.nargs in ("?", "*") else word
    word = (
        action.option_strings[-1] if action.nargs == 0 else f"{action.option_strings[-1]} {metavar(action)}"
    )
    return word if action.required else f"[{word}]"


def own_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.dest not in GLOBAL_DESTS and not isinstance(a, argparse._SubParsersAction)
    ]


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each command under ``parser``, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: help_text(a, parser.prog) for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def options(actions: list[argparse.Action], prog: str) -> Iterator[str]:
    for action in actions:
        yield ".TP"
        yield f"\\fB{roff(invocation(action))}\\fR"
        yield roff(help_text(action, prog))


def command_section(name: str, text: str, parser: argparse.ArgumentParser) -> Iterator[str]:
    children = list(subcommands(parser))
    words = [usage_word(a) for a in own_actions(parser)]
    if children:
        words.insert(0, "{" + "|".join(child for child, _, _ in children) + "}")
    yield f'.SS "{roff(name)}"'
    yield f"\\fB{roff(parser.prog)}\\fR {roff(' '.join(words))}".rstrip()
    yield ".br"
    yield roff(text)
    yield from options(own_actions(parser), parser.prog)
    for child, child_text, sub in children:
        yield from command_section(f"{name} {child}", child_text, sub)


def render(parser: argparse.ArgumentParser) -> str:
    """The whole page as roff (man(7) macros)."""
    globals_ = [a for a in parser._actions if a.dest in GLOBAL_DESTS or a.dest == "version"]
    lines = [
        f'.TH GIT\\-MODELVER 1 "" "gitmodelver {__version__}" "Git Manual"',
        ".SH NAME",
        f"git\\-modelver \\- {roff((parser.description or '').rstrip('.'))}",
        ".SH SYNOPSIS",
        "\\fBgit modelver\\fR [\\-C \\fIPATH\\fR] [\\-\\-system \\fINAME\\fR] [\\-\\-json] [\\-\\-debug] "
        "\\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".br",
        "\\fBgit modelver help\\fR [\\fICOMMAND\\fR]",
        ".SH DESCRIPTION",
        "Version a whole AI system in Git: base model, DVC\\-tracked weights, prompt templates, parameters "
        "and the evaluation results that certified them, as one signed tag \\fINAME\\fR@v\\fIX.Y.Z\\fR whose "
        "semver bump is computed from the manifest diff.",
        ".PP",
        "A version argument is NAME@vX.Y.Z, vX.Y.Z or X.Y.Z, a unique prefix of a version or state digest, "
        "or HEAD (the release HEAD contains).",
        ".SH GLOBAL OPTIONS",
        "Accepted before or after the command's name.",
        *options(globals_, parser.prog),
        ".SH COMMANDS",
    ]
    for name, text, sub in subcommands(parser):
        lines.extend(command_section(name, text, sub))
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines.extend([".TP", f"\\fB{code}\\fR", roff(meaning)])
    lines.extend([".SH SEE ALSO", "\\fBgit\\fR(1), \\fBgit\\-tag\\fR(1), \\fBdvc\\fR(1)", ""])
    return "\n".join(lines)


def main() -> None:
    from gitmodelver.cli import build_parser

    print(render(build_parser()), end="")


if __name__ == "__main__":
    main()
