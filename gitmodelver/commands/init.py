from __future__ import annotations

import argparse
import posixpath
import re
import sys
from pathlib import Path

from gitmodelver import advice, output, scaffold
from gitmodelver.commands import install_hooks
from gitmodelver.core import manifest
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import fsutil, proc, system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.scaffold import PRE_COMMIT_BLOCK


def _name(folder: Path, given: str | None) -> str:
    name = given or re.sub(r"[^a-z0-9._-]+", "-", folder.name.lower()).strip("-._") or "system"
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise UsageError(
            f"'{name}' is not a valid system name ([a-z0-9][a-z0-9._-]*)",
            fix="git modelver init --name my-system",
        )
    return name


def _files(repo: Repo) -> list[str]:
    """What git sees: tracked files and untracked ones it does not ignore (repo-relative)."""
    out = repo.run("ls-files", "-z", "--cached", "--others", "--exclude-standard").out
    return [f for f in out.split("\0") if f and not f.startswith((".git/", ".dvc/"))]


def _pre_commit(root: Path) -> bool:
    config = root / ".pre-commit-config.yaml"
    text = config.read_text("utf-8") if config.exists() else ""
    if "modelver-" in text:
        return False
    if not text:
        text = "repos:\n"
    elif "repos:" not in text:
        raise UsageError(
            f"{config}: no `repos:` list to add the hooks to; add them by hand (README: Hooks, With the "
            "pre-commit framework)"
        )
    fsutil.atomic_write(config, (text.rstrip("\n") + "\n" + PRE_COMMIT_BLOCK).encode("utf-8"))
    return True


def _activate_hooks(repo: Repo) -> str:
    """Switch the hooks on for this clone: the pre-commit framework for both stages, or the native hooks
    where pre-commit will not install (``core.hooksPath`` set)."""
    if repo.config("core.hooksPath"):
        install_hooks.install(repo, install_hooks.CLIENT_HOOKS, force=False)
        return f"native hooks in {install_hooks.hooks_dir(repo)} (core.hooksPath is set)"
    proc.run(
        [sys.executable, "-m", "pre_commit", "install", "-t", "pre-commit", "-t", "pre-push"],
        cwd=repo.root,
    )
    return "pre-commit install -t pre-commit -t pre-push"


def _dvc_init(root: Path) -> bool:
    if (root / ".dvc").is_dir():
        return False
    proc.run([sys.executable, "-m", "dvc", "init", "--quiet"], cwd=root)
    return True


def _dvc_remote(repo: Repo) -> Path | None:
    """Without any DVC remote, a local one under .git/modelver, so push and reproduce work offline."""
    from gitmodelver.dvc import dvcops

    return dvcops.ensure_default_remote(repo.root, repo.state_dir() / "dvc-storage")


def _over(args: argparse.Namespace) -> str:
    """This init command again, writing over the manifest there is."""
    named = ["--name", args.name] if args.name else []
    switches = {"--no-dvc": args.no_dvc, "--no-hooks": args.no_hooks, "--json": args.json}
    return advice.modelver("init", *named, "--force", *[s for s, on in switches.items() if on])


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    folder = repo.cwd
    rel = repo.relative_cwd()
    file = posixpath.join(rel, manifest.FILENAME) if rel else manifest.FILENAME
    if (repo.root / file).exists() and not args.force:
        raise UsageError(
            f"{file} already exists: edit it, or write a new one over it with --force", fix=_over(args)
        )
    name = _name(folder if rel else repo.root, args.name)
    found = scaffold.find(repo.worktree(), _files(repo), rel)
    fsutil.atomic_write(repo.root / file, scaffold.manifest_text(name, found).encode("utf-8"))
    snap = system.worktree_snapshot(repo, system.System(name, file))
    fsutil.atomic_write(repo.root / file, snap.locked_text().encode("utf-8"))
    dvc = False if args.no_dvc else _dvc_init(repo.root)
    storage = None if args.no_dvc else _dvc_remote(repo)
    hooks = _pre_commit(repo.root)
    active = None if args.no_hooks else _activate_hooks(repo)
    if args.json:
        output.emit_json(
            {
                "manifest": file,
                "name": name,
                "prompts": found.prompts,
                "weights": {k: w.dvc for k, w in found.weights.items()},
                "datasets": found.datasets,
                "params": [p.file for p in found.params],
                "metrics": found.metrics,
                "dvc_init": dvc,
                "dvc_remote": str(storage) if storage else None,
                "pre_commit": hooks,
                "hooks": active,
            }
        )
        return 0
    output.say(
        f"wrote {file}: system {name}, {len(found.prompts)} prompt(s), {len(found.weights)} weight(s), "
        f"{len(found.params)} params file(s), {len(found.metrics)} metrics file(s)"
    )
    if dvc:
        output.say("ran `dvc init`")
    if storage:
        output.say(f"DVC remote: {storage} (local; point it at S3/GCS/SSH with `dvc remote add -d`)")
    if hooks:
        output.say("added the modelver hooks to .pre-commit-config.yaml")
    output.say(f"hooks: on ({active})" if active else "hooks: off (--no-hooks; git modelver install-hooks)")
    output.say(f"next: review {file}, `git add -A && git commit`, then `git modelver release`")
    return 0
