from __future__ import annotations

import argparse
import posixpath
import re
import sys
from pathlib import Path

from gitmodelver import output
from gitmodelver.core import manifest
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import fsutil, proc, system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.scaffold import PRE_COMMIT_BLOCK, manifest_text

PROMPT_SUFFIXES = {".j2", ".jinja", ".jinja2", ".txt", ".md", ".prompt", ".tmpl", ".mustache"}


def _key(stem: str, taken: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "file"
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _name(folder: Path, given: str | None) -> str:
    name = given or re.sub(r"[^a-z0-9._-]+", "-", folder.name.lower()).strip("-._") or "system"
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise UsageError(
            f"'{name}' is not a valid system name ([a-z0-9][a-z0-9._-]*)", fix="pass --name NAME"
        )
    return name


def _scan(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    prompts: dict[str, str] = {}
    weights: dict[str, str] = {}
    taken: set[str] = set()
    prompt_dir = folder / "prompts"
    if prompt_dir.is_dir():
        for path in sorted(prompt_dir.rglob("*")):
            if _is_prompt(path, prompt_dir):
                prompts[_key(path.stem, taken)] = path.relative_to(folder).as_posix()
    taken = set()
    for path in sorted(folder.rglob("*.dvc")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith((".dvc/", ".git/")):
            weights[_key(Path(path.stem).stem, taken)] = rel
    return prompts, weights


def _is_prompt(path: Path, prompt_dir: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(prompt_dir).parts)
    return not hidden and path.suffix in PROMPT_SUFFIXES and path.is_file()


def _pre_commit(root: Path) -> bool:
    config = root / ".pre-commit-config.yaml"
    text = config.read_text("utf-8") if config.exists() else ""
    if "modelver-" in text:
        return False
    if not text:
        text = "repos:\n"
    elif "repos:" not in text:
        raise UsageError(
            f"{config}: no `repos:` list to add the hooks to", fix="add them by hand (see README)"
        )
    fsutil.atomic_write(config, (text.rstrip("\n") + "\n" + PRE_COMMIT_BLOCK).encode("utf-8"))
    return True


def _dvc_init(root: Path) -> bool:
    if (root / ".dvc").is_dir():
        return False
    proc.run([sys.executable, "-m", "dvc", "init", "--quiet"], cwd=root)
    return True


def _dvc_remote(repo: Repo) -> Path | None:
    """Without any DVC remote, a local one under .git/modelver, so push and reproduce work offline."""
    from gitmodelver.dvc import dvcops

    return dvcops.ensure_default_remote(repo.root, repo.state_dir() / "dvc-storage")


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    folder = repo.cwd
    rel = repo.relative_cwd()
    file = posixpath.join(rel, manifest.FILENAME) if rel else manifest.FILENAME
    if (repo.root / file).exists() and not args.force:
        raise UsageError(f"{file} already exists", fix="edit it, or pass --force to start over")
    name = _name(folder if rel else repo.root, args.name)
    prompts, weights = _scan(folder)
    evals = {
        k: v
        for k, v in (("suite", "evals/suite.yaml"), ("results", "evals/results.json"))
        if (folder / v).is_file()
    }
    fsutil.atomic_write(repo.root / file, manifest_text(name, prompts, weights, evals).encode("utf-8"))
    snap = system.worktree_snapshot(repo, system.System(name, file))
    fsutil.atomic_write(repo.root / file, snap.locked_text().encode("utf-8"))
    dvc = False if args.no_dvc else _dvc_init(repo.root)
    storage = None if args.no_dvc else _dvc_remote(repo)
    hooks = _pre_commit(repo.root)
    if args.json:
        output.emit_json(
            {
                "manifest": file,
                "name": name,
                "prompts": prompts,
                "weights": weights,
                "dvc_init": dvc,
                "dvc_remote": str(storage) if storage else None,
                "pre_commit": hooks,
            }
        )
        return 0
    output.say(f"wrote {file}: system {name}, {len(prompts)} prompt(s), {len(weights)} weight file(s)")
    if dvc:
        output.say("ran `dvc init`")
    if storage:
        output.say(f"DVC remote: {storage} (local; point it at S3/GCS/SSH with `dvc remote add -d`)")
    if hooks:
        output.say("added the modelver hooks to .pre-commit-config.yaml (enable them: `pre-commit install`)")
    output.say(f"next: review {file}, `git add -A && git commit`, then `git modelver release`")
    return 0
