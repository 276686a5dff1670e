"""DVC pipelines read as files: ``dvc.yaml`` (stages, artifacts, metrics), params files, and what
``dvc.lock`` recorded each stage ran with. Pure: everything is read through a ``Tree``; DVC is never
imported, so ``status`` and the hooks can say which stage is stale without paying for it.

A stage is **stale** when what it ran with (dvc.lock) is no longer what the tree holds: a params value,
a dependency's md5 (a Git file's bytes, another stage's recorded output, a ``.dvc`` pointer's md5), or
its command. That is DVC's own rule (``dvc status``), judged from the files DVC wrote.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitmodelver.core import dvcfiles
from gitmodelver.core.filerefs import Tree, join

DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
DEFAULT_PARAMS = "params.yaml"
MODEL_SUFFIXES = (".pkl", ".joblib", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".h5")
MODEL_FOLDERS = ("model", "models", "adapter", "adapters", "checkpoint", "checkpoints", "lora")


@dataclass(frozen=True)
class Artifact:
    """An entry of ``artifacts:`` in dvc.yaml (DVC's model registry convention)."""

    name: str
    path: str  # repo-relative
    type: str | None
    desc: str | None
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: Any
    deps: tuple[str, ...]  # repo-relative
    outs: tuple[str, ...]  # repo-relative, metrics and plots included
    metrics: tuple[str, ...]
    params: tuple[tuple[str, str], ...]  # (repo-relative params file, key)
    templated: bool  # foreach / matrix / ${…}: its lock entries have other names


@dataclass
class Pipeline:
    """One dvc.yaml."""

    file: str
    stages: dict[str, Stage] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.file)

    def producer(self, path: str) -> Stage | None:
        return next((s for s in self.stages.values() if path in s.outs), None)

    def params_files(self) -> list[str]:
        return sorted({file for stage in self.stages.values() for file, _ in stage.params})


@dataclass(frozen=True)
class Stale:
    stage: str
    lockfile: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.stage}: {'; '.join(self.reasons)}"


# --------------------------------------------------------------------------- dvc.yaml


def read_pipeline(tree: Tree, file: str) -> Pipeline | None:
    """The dvc.yaml at ``file``; None when there is none or it is no mapping."""
    raw = tree.read(file)
    doc = dvcfiles.parse_yaml(raw, numbers_as_text=False) if raw is not None else None
    if not isinstance(doc, Mapping):
        return None
    pipeline = Pipeline(file)
    folder = pipeline.folder
    stages = doc.get("stages")
    for name, body in stages.items() if isinstance(stages, Mapping) else []:
        if isinstance(body, Mapping):
            pipeline.stages[str(name)] = _stage(folder, str(name), body)
    artifacts = doc.get("artifacts")
    for name, body in artifacts.items() if isinstance(artifacts, Mapping) else []:
        if isinstance(body, Mapping) and isinstance(body.get("path"), str):
            labels = body.get("labels")
            pipeline.artifacts.append(
                Artifact(
                    str(name),
                    _inside(folder, body["path"], file),
                    _text(body.get("type")),
                    _text(body.get("desc")),
                    tuple(str(x) for x in labels) if isinstance(labels, list) else (),
                )
            )
    pipeline.metrics = [_inside(folder, p, file) for p in _paths(doc.get("metrics"))]
    return pipeline


def _stage(folder: str, name: str, body: Mapping[str, Any]) -> Stage:
    wdir = body.get("wdir")
    base = _inside(folder, wdir, DVC_YAML) if isinstance(wdir, str) and wdir not in ("", ".") else folder
    metrics = tuple(_inside(base, p, DVC_YAML) for p in _paths(body.get("metrics")))
    outs = tuple(_inside(base, p, DVC_YAML) for key in ("outs", "plots") for p in _paths(body.get(key)))
    params: list[tuple[str, str]] = []
    for item in body.get("params") or []:
        if isinstance(item, str):
            params.append((join(base, DEFAULT_PARAMS), item))
        elif isinstance(item, Mapping):
            for file, keys in item.items():
                for key in keys if isinstance(keys, list) else []:
                    params.append((_inside(base, str(file), DVC_YAML), str(key)))
    templated = "foreach" in body or "matrix" in body or "${" in json.dumps(body.get("cmd"), default=str)
    return Stage(
        name,
        body.get("cmd"),
        tuple(_inside(base, p, DVC_YAML) for p in _paths(body.get("deps"))),
        outs + metrics,
        metrics,
        tuple(params),
        templated,
    )


def _paths(entries: Any) -> Iterator[str]:
    """Paths of a dvc.yaml list, whose items are ``path`` or ``{path: {options}}``."""
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, Mapping):
            yield from (str(k) for k in entry)


def _inside(folder: str, path: str, source: str) -> str:
    return dvcfiles.inside(folder, path, source, "path")


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) else None


def pipelines(tree: Tree, folders: list[str]) -> list[Pipeline]:
    """The dvc.yaml files in ``folders`` (the manifest's folder and the ones above it, say)."""
    found = []
    for folder in folders:
        pipeline = read_pipeline(tree, join(folder, DVC_YAML))
        if pipeline is not None:
            found.append(pipeline)
    return found


def folders_up(base: str) -> list[str]:
    """``base`` and every folder above it up to the repository's top: where a system's pipeline may be."""
    out = [base]
    while base:
        base = posixpath.dirname(base)
        out.append(base)
    return out


def model_outputs(pipeline: Pipeline) -> list[str]:
    """What the pipeline declares as models: ``artifacts:`` of type model, or else outputs that look like
    model files or folders (never metrics, plots or data)."""
    declared = [a.path for a in pipeline.artifacts if a.type == "model"]
    if declared or pipeline.artifacts:
        return declared
    found = []
    for stage in pipeline.stages.values():
        if stage.templated:  # foreach / matrix / ${…}: its real outputs are named only in dvc.lock
            continue
        for out in stage.outs:
            if out in stage.metrics:
                continue
            name = posixpath.basename(out).lower()
            if name.endswith(MODEL_SUFFIXES) or name in MODEL_FOLDERS:
                found.append(out)
    return found


# --------------------------------------------------------------------------- params files


def read_params(tree: Tree, path: str) -> Mapping[str, Any] | None:
    """A params file as DVC reads one (YAML, JSON or TOML); None when missing or unreadable."""
    raw = tree.read(path)
    if raw is None:
        return None
    try:
        if path.endswith(".toml"):
            doc: Any = tomllib.loads(raw.decode("utf-8"))
        elif path.endswith(".json"):
            doc = json.loads(raw)
        else:
            doc = dvcfiles.parse_yaml(raw, numbers_as_text=False)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc if isinstance(doc, Mapping) else None


MISSING = object()


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    """A DVC param key (``train.lr``), or ``MISSING``; a key with dots of its own is tried whole first."""
    if dotted in doc:
        return doc[dotted]
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def select(doc: Mapping[str, Any], keys: list[str] | None) -> dict[str, Any]:
    """The part of a params file that ``keys`` (DVC's dotted keys or prefixes) names, nested as in the
    file; all of it when ``keys`` is None. Keys that are absent are left out (the caller reports them)."""
    if keys is None:
        return {str(k): v for k, v in doc.items()}
    out: dict[str, Any] = {}
    for key in keys:
        value = lookup(doc, key)
        if value is MISSING:
            continue
        table = out
        parts = [key] if key in doc else key.split(".")
        for part in parts[:-1]:
            table = table.setdefault(part, {})
        table[parts[-1]] = value
    return out


# --------------------------------------------------------------------------- staleness


def stale_stages(tree: Tree, folders: list[str]) -> list[Stale]:
    """Every stage of the dvc.lock files in ``folders`` whose record no longer matches the tree."""
    found: list[Stale] = []
    for folder in folders:
        lockfile = join(folder, DVC_LOCK)
        stages = dvcfiles.lock_stages(tree, lockfile)
        pipeline = read_pipeline(tree, join(folder, DVC_YAML))
        if not stages and pipeline is None:
            continue
        outs = {o.path: o for o in dvcfiles.lock_outs(tree, lockfile)}
        for name, body in stages.items():
            if isinstance(body, Mapping):
                reasons = _stage_reasons(tree, folder, str(name), body, outs, pipeline)
                if reasons:
                    found.append(Stale(str(name), lockfile, tuple(reasons)))
        for stage in pipeline.stages.values() if pipeline is not None else []:
            if not stage.templated and stage.name not in stages:
                found.append(Stale(stage.name, lockfile, ("never run",)))
    return found


def _stage_reasons(
    tree: Tree,
    folder: str,
    name: str,
    body: Mapping[str, Any],
    outs: Mapping[str, dvcfiles.DvcOut],
    pipeline: Pipeline | None,
) -> list[str]:
    reasons = []
    declared = pipeline.stages.get(name) if pipeline is not None else None
    if declared is not None and not declared.templated and _cmd(declared.cmd) != _cmd(body.get("cmd")):
        reasons.append("its command changed")
    for entry in body.get("deps") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
            why = _dep_changed(tree, join(folder, entry["path"]), entry, outs)
            if why:
                reasons.append(why)
    params = body.get("params")
    for file, values in params.items() if isinstance(params, Mapping) else []:
        if isinstance(values, Mapping):
            reasons += _params_changed(tree, join(folder, str(file)), values)
    return reasons


def _cmd(cmd: Any) -> Any:
    if isinstance(cmd, list):
        return [str(c).strip() for c in cmd]
    return cmd.strip() if isinstance(cmd, str) else cmd


def _params_changed(tree: Tree, path: str, recorded: Mapping[str, Any]) -> list[str]:
    current = read_params(tree, path)
    if current is None:
        return [f"params file {path} is missing"]
    out = []
    for key, value in recorded.items():
        now = lookup(current, str(key))
        if now is MISSING:
            out.append(f"params {key} removed from {path}")
        elif now != value:
            out.append(f"params {key} {_show(value)} -> {_show(now)}")
    return out


def _show(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _dep_changed(
    tree: Tree, path: str, entry: Mapping[str, Any], outs: Mapping[str, dvcfiles.DvcOut]
) -> str | None:
    recorded = entry.get("md5")
    if not isinstance(recorded, str):
        return None
    now = current_md5(tree, path, entry, outs)
    if now is None or now == recorded:
        return None
    if now == "":
        return f"dependency {path} is missing"
    return f"dependency {path} changed"


def current_md5(
    tree: Tree, path: str, entry: Mapping[str, Any], outs: Mapping[str, dvcfiles.DvcOut]
) -> str | None:
    """What DVC would record for ``path`` now: "" when it is gone, None when the tree cannot tell."""
    if path in outs:
        return outs[path].md5
    if tree.exists(path + ".dvc"):
        out = dvcfiles.resolve(tree, path)
        return out.md5 if out is not None else None
    data = tree.read(path)
    if data is not None:
        if entry.get("hash") != "md5":  # DVC 2 hashed text with CRLF folded to LF
            legacy = hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest()
            if legacy == entry.get("md5"):
                return legacy
        return hashlib.md5(data).hexdigest()
    listing = getattr(tree, "files", None)
    files = listing(path) if listing is not None else None
    if not files:
        return "" if files == [] and not tree.exists(path) else None
    nfiles = entry.get("nfiles")
    if isinstance(nfiles, int) and nfiles != len(files) and not getattr(tree, "complete", False):
        return None  # Git holds only the tracked files of the folder DVC hashed: it cannot tell
    return dir_md5(tree, path, files)


def dir_md5(tree: Tree, folder: str, files: list[str]) -> str | None:
    """DVC's md5 of a folder: the md5 of its sorted JSON listing of ``{"md5", "relpath"}``, plus ``.dir``."""
    entries = []
    for file in sorted(files):
        data = tree.read(file)
        if data is None:
            return None
        entries.append({"md5": hashlib.md5(data).hexdigest(), "relpath": file[len(folder) + 1 :]})
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"
