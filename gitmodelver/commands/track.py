"""``track PATH…``: name new prompts, weights or params files in an existing manifest.

The manifest is edited with tomlkit, so every comment and hand edit stays; new tables go at the end of
their section, and their pins are written at once (as ``lock`` would).
"""

from __future__ import annotations

import argparse
import json
import posixpath
from pathlib import Path, PurePosixPath

import tomlkit
from tomlkit.toml_document import TOMLDocument

from gitmodelver import output, scaffold
from gitmodelver.commands._arguments import open_system
from gitmodelver.core import dvcfiles, filerefs, pipeline
from gitmodelver.core.manifest import parse
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import fsutil, system
from gitmodelver.gitstore.repo import Repo

KINDS = ("prompt", "weights", "params")


def kind_of(repo: Repo, path: str, asked: str | None) -> str:
    """What ``path`` (repo-relative) is: asked for, or judged from the file itself."""
    if asked:
        return asked
    tree = repo.worktree()
    name = PurePosixPath(path).name
    if path.endswith(".dvc") or dvcfiles.resolve(tree, path) is not None:
        return "weights"
    if name.startswith("params") and name.endswith((".yaml", ".yml", ".json", ".toml")):
        return "params"
    return "prompt"


def _relative(repo: Repo, sys_: system.System, arg: str) -> str:
    full = (repo.cwd / arg).resolve() if not Path(arg).is_absolute() else Path(arg).resolve()
    try:
        rel = full.relative_to(repo.root).as_posix()
    except ValueError:
        raise UsageError(
            f"{arg} is outside the repository {repo.root}: copy it into the repository, then track the copy"
        ) from None
    problem = filerefs.outside(sys_.base, posixpath.relpath(rel, sys_.base or "."))
    if problem is not None:
        raise UsageError(f"{arg} {problem}: track a file of the repository")
    if not full.exists():
        raise UsageError(f"{arg}: no such file; create it first, or check the path")
    return rel


def _taken(data: dict[str, object], section: str) -> set[str]:
    table = data.get(section)
    return set(table) if isinstance(table, dict) else set()


def _new(added: list[str], section: str) -> set[str]:
    """The keys of ``section`` added so far (``added`` holds dotted TOML names: ``prompts."日本語"``)."""
    keys = (name.split(".", 1)[1] for name in added if name.startswith(section + "."))
    return {json.loads(k) if k.startswith('"') else k for k in keys}


def _named(data: dict[str, object], rel_to_manifest: str) -> str | None:
    """The component that already names this path, if any."""
    for ref in filerefs.iter_file_refs(data):
        if ref.target == rel_to_manifest:
            return ref.dotted
    return None


def _add(doc: TOMLDocument, section: str, key: str, values: dict[str, object]) -> None:
    table = tomlkit.table()
    for name, value in values.items():
        table[name] = value
    table.add(tomlkit.nl())
    if section not in doc:
        doc[section] = tomlkit.table(is_super_table=True)
    doc[section][key] = table


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    text = (repo.root / sys_.file).read_text("utf-8")
    data = parse(text, sys_.file).data
    doc = tomlkit.parse(text)
    added: list[str] = []
    for arg in args.paths:
        rel = _relative(repo, sys_, arg)
        target = posixpath.relpath(rel, sys_.base) if sys_.base else rel
        kind = kind_of(repo, rel, args.as_)
        already = _named(data, target)
        if already is not None:
            output.warn(f"{arg}: already named by {already}")
            continue
        if kind == "prompt":
            key = scaffold.component_key(target, _taken(data, "prompts") | _new(added, "prompts"))
            _add(doc, "prompts", key, {"path": target})
            added.append(f"prompts.{scaffold.toml_key(key)}")
        elif kind == "weights":
            key = scaffold.component_key(
                PurePosixPath(target).name, _taken(data, "weights") | _new(added, "weights")
            )
            _add(doc, "weights", key, {"dvc": target})
            added.append(f"weights.{scaffold.toml_key(key)}")
        else:
            if pipeline.read_params(repo.worktree(), rel) is None:
                raise UsageError(f"{arg}: not a params file DVC can read (YAML, JSON or TOML)")
            if "params" not in data.get("parameters", {}):
                doc.setdefault("parameters", tomlkit.table())["params"] = target
                added.append("parameters")
            else:
                key = scaffold.component_key(target, _taken(data, "parameters") | _new(added, "parameters"))
                _add(doc, "parameters", key, {"params": target})
                added.append(f"parameters.{scaffold.toml_key(key)}")
    if not added:
        output.say(f"{sys_.file}: nothing new to track")
        return 0
    new_text = tomlkit.dumps(doc)
    snap = system.snapshot(repo.worktree(), parse(new_text, sys_.file))
    fsutil.atomic_write(repo.root / sys_.file, snap.locked_text().encode("utf-8"))
    if args.json:
        output.emit_json({"added": added, "manifest": sys_.file})
        return 0
    for name in added:
        output.say(f"{sys_.file}: added [{name}]")
    output.say(f"next: git add {sys_.file} && git commit")
    return 0
