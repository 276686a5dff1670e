"""``git modelver install-hooks [--server GIT_DIR] [--force]``: native git hooks, for teams without the
pre-commit framework (pre-commit, pre-push) and for the server (pre-receive)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from gitmodelver import advice, output
from gitmodelver.errors import UsageError
from gitmodelver.gitstore.repo import Repo

MARKER = "# gitmodelver hook:"
CLIENT_HOOKS = ("pre-commit", "pre-push")
SERVER_HOOKS = ("pre-receive",)
WHAT = {
    "pre-commit": "Blocks unpinned prompt edits, invalid manifests and raw weights in what is staged.",
    "pre-push": "Blocks pushing version tags that fail verification, and moving or deleting them.",
    "pre-receive": "Rejects deleting or moving version tags, unverifiable or under-levelled versions,\n"
    "# and non-fast-forward updates of the deployment ledger (refs/heads/modelver/ledger).",
}


def script(name: str, python: str = "python3") -> str:
    """The hook's text: ``git-modelver`` from PATH, else ``python -m gitmodelver`` (the hooks/ copies
    say ``python3``; installed copies name the interpreter that installed them)."""
    return (
        "#!/bin/sh\n"
        f"{MARKER} {name}\n"
        f"# {WHAT[name]}\n"
        "# Installed by `git modelver install-hooks`; see Hooks in the README.\n"
        "if command -v git-modelver >/dev/null 2>&1; then\n"
        f'    exec git-modelver hook {name} "$@"\n'
        "fi\n"
        f'exec {shlex.quote(python)} -m gitmodelver hook {name} "$@"\n'
    )


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks in ``repo`` (core.hooksPath respected)."""
    out = repo.run("rev-parse", "--git-path", "hooks").out.strip()
    return (repo.root / out).resolve()


def install(repo: Repo, names: tuple[str, ...], *, force: bool) -> list[str]:
    """Write each hook; a hook that is not ours is kept aside with --force, else refused."""
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    foreign = [n for n in names if _is_foreign(folder / n)]
    if foreign and not force:
        shown = ", ".join(str(folder / n) for n in foreign)
        server = ("--server", str(repo.root)) if repo.bare else ()
        raise UsageError(
            f"{shown}: a hook that gitmodelver did not write is already there; --force replaces it and "
            f"keeps it as {foreign[0]}.pre-modelver (if it is the pre-commit framework's, add the modelver "
            "hooks to .pre-commit-config.yaml instead)",
            fix=advice.modelver("install-hooks", *server, "--force"),
        )
    notes = []
    for name in names:
        path = folder / name
        if name in foreign:
            backup = path.with_name(f"{name}.pre-modelver")
            os.replace(path, backup)
            notes.append(f"kept the previous {name} hook as {backup}")
        _write(path, script(name, sys.executable))
        notes.append(f"installed {path}")
    return notes


def _is_foreign(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return MARKER not in path.read_text("utf-8", "replace")
    except OSError:
        return True


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, "utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    server = bool(args.server)
    repo = Repo(args.server, bare_ok=True) if server else Repo(args.directory)
    names = SERVER_HOOKS if server else CLIENT_HOOKS
    notes = install(repo, names, force=args.force)
    if server and not repo.config("gpg.ssh.allowedSignersFile"):
        notes.append(
            "signatures are checked against git's trust there: "
            f"git -C {shlex.quote(str(repo.root))} config gpg.ssh.allowedSignersFile FILE"
        )
    if args.json:
        folder = hooks_dir(repo)
        output.emit_json(
            {"hooks": {name: str(folder / name) for name in names}, "server": server, "notes": notes}
        )
        return 0
    for note in notes:
        output.say(note)
    return 0
