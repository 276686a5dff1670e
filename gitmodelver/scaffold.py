"""What ``init`` finds in a repository and the text it writes: a commented manifest, the hook block.

Finding reads only what is there (files git sees, dvc.yaml, dvc.lock, ``.dvc`` pointers, params files)
and invents nothing: every value in the manifest it writes comes from the repository.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gitmodelver.core import dvcfiles, pipeline
from gitmodelver.core.filerefs import Tree, join

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

PRE_COMMIT_BLOCK = """\
  - repo: local
    hooks:
      - id: modelver-prompt-guard
        name: modelver prompt guard
        entry: git-modelver hook prompt-guard
        language: system
        pass_filenames: false
        always_run: true
        stages: [pre-commit]
      - id: modelver-manifest
        name: modelver manifest
        entry: git-modelver hook manifest
        language: system
        files: (^|/)modelver\\.toml$
        stages: [pre-commit]
      - id: modelver-no-raw-weights
        name: modelver no raw weights
        entry: git-modelver hook no-raw-weights
        language: system
        stages: [pre-commit]
      - id: modelver-verify-tags
        name: modelver verify tags
        entry: git-modelver hook verify-tags
        language: system
        pass_filenames: false
        always_run: true
        stages: [pre-push]
"""


PROMPT_SUFFIXES = (".j2", ".jinja", ".jinja2", ".txt", ".md", ".prompt", ".tmpl", ".mustache")


@dataclass(frozen=True)
class Weight:
    dvc: str  # relative to the manifest's folder: a .dvc pointer or a pipeline output
    trained_on: tuple[str, ...] = ()
    note: str | None = None  # where it was found, as a comment


@dataclass(frozen=True)
class Params:
    file: str  # relative to the manifest's folder
    keys: tuple[str, ...] | None  # DVC's dotted keys; None: the whole file


@dataclass
class Found:
    prompts: dict[str, str] = field(default_factory=dict)  # key -> path
    weights: dict[str, Weight] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)  # .dvc pointers of data: lineage, never weights
    params: list[Params] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    evals: dict[str, str] = field(default_factory=dict)  # suite/results -> path


def _key(stem: str, taken: set[str]) -> str:
    key = "".join(c if c.isalnum() or c in "_-" else "_" for c in stem).strip("_") or "file"
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _rel(path: str, base: str) -> str:
    return posixpath.relpath(path, base) if base else path


def find(tree: Tree, files: Iterable[str], base: str) -> Found:
    """What a manifest in folder ``base`` should name, from ``files`` (repo-relative, as git lists them)."""
    files = sorted(f for f in files if not base or f.startswith(base + "/"))
    found = Found()
    found.prompts = _prompts(files, base)
    pipelines = [
        p
        for f in files
        if posixpath.basename(f) == pipeline.DVC_YAML
        if (p := pipeline.read_pipeline(tree, f)) is not None
    ]
    _pipeline_weights(tree, pipelines, files, base, found)
    _pointer_weights(tree, files, base, found)
    found.params = _params(pipelines, files, base)
    tracked = set(files)
    found.metrics = [_rel(m, base) for p in pipelines for m in _metrics(p) if m in tracked]
    for kind, path in (("suite", "evals/suite.yaml"), ("results", "evals/results.json")):
        if join(base, path) in tracked:
            found.evals[kind] = path
    return found


def _prompts(files: list[str], base: str) -> dict[str, str]:
    """Files with a prompt's suffix inside a folder named ``prompts`` (at any depth); their keys are the
    file's stem, with the folder that owns ``prompts/`` in front when it is not the top."""
    prompts: dict[str, str] = {}
    taken: set[str] = set()
    for file in files:
        rel = _rel(file, base)
        parts = rel.split("/")
        if "prompts" not in parts[:-1] or any(p.startswith(".") for p in parts):
            continue
        if not rel.endswith(PROMPT_SUFFIXES):
            continue
        prompts[component_key(rel, taken)] = rel
    return prompts


def component_key(path: str, taken: set[str]) -> str:
    """A manifest key for ``path``: its stem, with the folder that owns a ``prompts/`` folder in front
    when that is not the top (``agents/planner/prompts/plan.md`` -> ``planner-plan``); never one taken."""
    parts = path.split("/")
    stem = PurePosixPath(parts[-1]).stem.removesuffix(".dvc")
    if "prompts" in parts[:-1]:
        at = parts.index("prompts")
        if at > 0:
            stem = f"{parts[at - 1]}-{stem}"
    return _key(stem, taken)


def _pipeline_weights(
    tree: Tree, pipelines: list[pipeline.Pipeline], files: list[str], base: str, found: Found
) -> None:
    taken = set(found.weights)
    for p in pipelines:
        named = {a.path: a for a in p.artifacts}
        for path in pipeline.model_outputs(p):
            artifact = named.get(path)
            stage = p.producer(path)
            note = f"{p.file}: artifact {artifact.name} (type: model)" if artifact else None
            if note is None and stage is not None:
                note = f"{p.file}: output of stage {stage.name}"
            key = _key(artifact.name if artifact else PurePosixPath(path).stem, taken)
            found.weights[key] = Weight(_rel(path, base), _upstream_data(tree, pipelines, path, base), note)


def _upstream_data(tree: Tree, pipelines: list[pipeline.Pipeline], path: str, base: str) -> tuple[str, ...]:
    """The ``.dvc``-tracked data sets the stages that produce ``path`` read, however far up."""
    seen: set[str] = set()
    data: list[str] = []
    todo = [path]
    while todo:
        current = todo.pop()
        stage = next((s for p in pipelines if (s := p.producer(current)) is not None), None)
        for dep in stage.deps if stage is not None else ():
            if dep in seen:
                continue
            seen.add(dep)
            if tree.exists(dep + ".dvc"):
                data.append(_rel(dep + ".dvc", base))
            else:
                todo.append(dep)
    return tuple(sorted(data))


def _pointer_weights(tree: Tree, files: list[str], base: str, found: Found) -> None:
    """``.dvc`` pointers: model files and folders become weights; everything else is data."""
    taken = set(found.weights)
    for file in files:
        if not file.endswith(".dvc") or file.startswith(".dvc/"):
            continue
        outs = dvcfiles.pointer_outs(tree, file)
        if not outs:
            continue
        target = outs[0].path
        parts = [p.lower() for p in target.split("/")]
        if parts[-1].endswith(pipeline.MODEL_SUFFIXES) or set(parts) & set(pipeline.MODEL_FOLDERS):
            found.weights[_key(PurePosixPath(target).stem, taken)] = Weight(_rel(file, base), (), None)
        else:
            found.datasets.append(_rel(file, base))


def _params(pipelines: list[pipeline.Pipeline], files: list[str], base: str) -> list[Params]:
    keys: dict[str, set[str]] = {}
    for p in pipelines:
        for stage in p.stages.values():
            for file, key in stage.params:
                keys.setdefault(file, set()).add(key)
    default = join(base, pipeline.DEFAULT_PARAMS)
    if not keys and default in files:
        return [Params(pipeline.DEFAULT_PARAMS, None)]  # no stage says which keys: all of them
    return [Params(_rel(file, base), tuple(sorted(k))) for file, k in sorted(keys.items()) if file in files]


def _metrics(p: pipeline.Pipeline) -> list[str]:
    found = list(p.metrics)
    found += [m for s in p.stages.values() for m in s.metrics if m not in found]
    return found


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def toml_key(key: str) -> str:
    """``key`` as TOML writes it: bare keys allow only A-Za-z0-9_-, so ``日本語`` is written ``"日本語"``."""
    return key if _BARE_KEY.fullmatch(key) else _q(key)


def prompt_globs(prompts: dict[str, str]) -> list[str]:
    """One glob per prompts folder and suffix, so the globs match exactly the kinds of files named where
    they are: a ``.gitkeep`` or ``config.yaml`` beside them is no prompt."""
    globs = set()
    for path in prompts.values():
        parts = path.split("/")
        folder = (
            "/".join(parts[: parts.index("prompts") + 1]) if "prompts" in parts else posixpath.dirname(path)
        )
        globs.add(
            f"{folder}/**/*{PurePosixPath(path).suffix}" if folder else f"*{PurePosixPath(path).suffix}"
        )
    return sorted(globs)


def _policy(globs: list[str]) -> list[str]:
    lines = ["[policy]", "require_signed = false"]
    if globs:
        lines.append(f"prompt_globs = [{', '.join(_q(g) for g in globs)}]")
    else:
        lines.append('# prompt_globs = ["prompts/**/*.j2"]   # files that count as prompts once added')
    return [*lines, ""]


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _weights(found: Found) -> list[str]:
    lines: list[str] = []
    for key, weight in found.weights.items():
        # Comments go on the header line: a comment line between two tables belongs to the first one, and
        # the pins lock writes at its end would land below it.
        lines += [
            f"[weights.{toml_key(key)}]" + (f"   # {weight.note}" if weight.note else ""),
            f"dvc = {_q(weight.dvc)}",
        ]
        lines += [f"trained_on = {_list(weight.trained_on)}"] if weight.trained_on else []
        lines.append("")
    if found.datasets and not any(w.trained_on for w in found.weights.values()):
        lines += [
            f"# data under DVC (name what trained a weight in its trained_on): {', '.join(found.datasets)}"
        ]
        lines.append("")
    return lines


def _parameters(found: Found) -> list[str]:
    if not found.params:
        return ["# [parameters]                 # generation parameters, e.g. temperature = 0.2", ""]
    lines = []
    for params in found.params:
        table = (
            "parameters"
            if len(found.params) == 1
            else f"parameters.{toml_key(PurePosixPath(params.file).stem)}"
        )
        lines.append(f"[{table}]   # from a DVC params file: a change of these keys is a parameters change")
        lines.append(f"params = {_q(params.file)}")
        if params.keys is not None:
            keys = "".join(f"    {_q(k)},\n" for k in params.keys)
            lines.append(f"keys = [\n{keys}]")
        lines.append("")
    return lines


def _evaluation(found: Found) -> list[str]:
    entries = [f"{k} = {{ path = {_q(v)} }}" for k, v in found.evals.items()]
    if found.metrics and "results" not in found.evals:
        entries.append(f"metrics = {{ path = {_q(found.metrics[0])} }}   # DVC metrics, bound by dvc.lock")
    if not entries:
        return []
    return ["[evaluation]", *entries, '# gates = { metric = ">= value" }   # what a release must reach', ""]


def manifest_text(name: str, found: Found) -> str:
    lines = [
        "# The manifest of one AI system, versioned by gitmodelver.",
        "# Pins (sha256, md5) and system.version are written by `git modelver lock` / `release`.",
        "",
        "[system]",
        f"name = {_q(name)}",
        "",
        "# [base_model]",
        '# id = "org/model"',
        '# revision = "<commit sha of the model repository>"   # immutable ids only',
        "",
    ]
    lines += _weights(found)
    for key, path in found.prompts.items():
        lines += [f"[prompts.{toml_key(key)}]", f"path = {_q(path)}", ""]
    lines += _parameters(found)
    lines += _evaluation(found)
    lines += _policy(prompt_globs(found.prompts))
    return "\n".join(lines)
