"""What one version holds, read from its commit (no checkout): the manifest as released, the text of its
prompts, its DVC artifacts by hash and size, its evaluation and gates, and its lineage.

Digests shown with it are recomputed from the manifest, not taken from the tag message. A manifest that
cannot be read leaves ``problem`` set and the rest empty: its verification says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver.audit.lineage_graph import Graph
from gitmodelver.core import digest, dvcfiles, evaluation, manifest
from gitmodelver.core.diff import join as join_path
from gitmodelver.core.filerefs import FileRef, follow, join
from gitmodelver.errors import ModelverError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release
from gitmodelver.guards import globs

MAX_TEXT = 512 * 1024  # bytes: a prompt larger than this is shown by its hash only


@dataclass(frozen=True)
class TextFile:
    """A prompt: its path, pin, and its text when it is UTF-8 and small enough to show."""

    path: str
    sha256: str | None
    text: str | None
    note: str | None = None  # why there is no text


@dataclass(frozen=True)
class Artifact:
    """A DVC-tracked file or folder, as DVC recorded it."""

    path: str
    md5: str | None
    size: int | None
    nfiles: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Evaluation:
    path: str
    metrics: dict[str, float]  # the numbers only
    gates: list[evaluation.GateResult]
    bound: bool
    binding: str
    problems: list[str]
    raw: bytes | None  # the file as released, for download


@dataclass
class Facts:
    tag: str
    manifest: manifest.Manifest | None
    raw: bytes | None  # the manifest's bytes as released
    problem: str | None = None
    prompts: dict[str, TextFile] = field(default_factory=dict)  # by the reference's dotted path
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    files: dict[str, TextFile] = field(default_factory=dict)  # other Git files the manifest pins (no text)
    evaluation: Evaluation | None = None
    lineage: Graph | None = None
    state: str | None = None
    digest: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.manifest.data if self.manifest is not None else {}

    def summary(self) -> dict[str, Any]:
        """What the metrics page needs of a version, kept between builds (a function of the tag object)."""
        ev = self.evaluation
        return {
            "metrics": dict(ev.metrics) if ev else {},
            "gates": {g.metric: g.rule for g in ev.gates} if ev else {},
            "failed": [g.metric for g in ev.gates if not g.ok] if ev else [],
        }


def ref_path(ref: FileRef) -> str:
    """The reference's place in the manifest as ``diff`` writes paths (keys holding dots are quoted)."""
    out = ""
    for part in ref.key:
        out = join_path(out, part)
    return out


def read(repo: Repo, sys_: System, release: Release) -> Facts:
    obj = repo.git.get(release.commit)
    commit = obj.peel(pygit2.Commit) if obj is not None else None
    if commit is None:
        return Facts(release.tag, None, None, f"commit {release.commit} is missing")
    tree = CommitTree(repo.git, commit, release.tag)
    raw = tree.read(sys_.file)
    try:
        m = manifest.load_tree(tree, sys_.file, trusted=True)
    except ModelverError as exc:
        return Facts(release.tag, None, raw, str(exc))
    if m is None:
        return Facts(release.tag, None, None, f"{release.tag} has no {sys_.file}")
    facts = Facts(
        release.tag, m, raw, state=digest.state_digest(m.data), digest=digest.version_digest(m.data)
    )
    _files(facts, tree, m)
    facts.evaluation = _evaluation(tree, m, facts.state or "")
    from gitmodelver.audit import lineage  # DVC's files read as YAML: only when a version is read

    facts.lineage = lineage.build(
        tree, m, tag=release.tag, version_digest=facts.digest, state=facts.state, commit=release.commit
    )
    return facts


def _files(facts: Facts, tree: CommitTree, m: manifest.Manifest) -> None:
    patterns = globs.prompt_patterns(m.policy)
    for ref in m.refs:
        path = join(m.base, ref.target)
        pin = ref.pin if isinstance(ref.pin, str) else None
        if ref.kind == "dvc":
            facts.artifacts[ref.dotted] = _artifact(tree, path)
        elif ref.kind == "path" and (ref.key[0] == "prompts" or globs.matches(patterns, path, m.base)):
            facts.prompts[ref.dotted] = _text(tree, path, pin)
        elif ref.kind == "path":
            facts.files[ref.dotted] = TextFile(path, pin, None)


def _text(tree: CommitTree, path: str, pin: str | None) -> TextFile:
    followed = follow(tree, path)  # a symlinked prompt is the file it leads to
    raw = tree.read(followed.path) if followed.problem is None else None
    if raw is None:
        return TextFile(path, pin, None, followed.problem or followed.dangling or "no such file")
    if len(raw) > MAX_TEXT:
        return TextFile(path, pin, None, f"{len(raw):,} bytes: too large to show")
    try:
        return TextFile(path, pin, raw.decode("utf-8"))
    except UnicodeDecodeError:
        return TextFile(path, pin, None, "not UTF-8 text")


def _artifact(tree: CommitTree, path: str) -> Artifact:
    try:
        out = dvcfiles.resolve(tree, path)
    except ModelverError as exc:
        return Artifact(path, None, None, note=str(exc))
    if out is None:
        return Artifact(path, None, None, note=dvcfiles.explain(tree, path))
    return Artifact(out.path, out.md5, out.size, out.nfiles)


def _evaluation(tree: CommitTree, m: manifest.Manifest, state: str) -> Evaluation | None:
    results = evaluation.load_results(tree, m.data, m.base)
    stamped = results is not None
    if results is None:
        results = evaluation.load_metrics(tree, m.data, m.base)
    if results is None:
        return None
    numbers = {
        str(k): float(v)
        for k, v in results.metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    if results.problems:
        bound, binding = False, "unreadable"
    elif stamped:
        bound = results.subject == state
        binding = "stamped with this state's digest" if bound else "stamped with another state's digest"
    else:
        bound, binding = evaluation.metrics_binding(tree, results.path)
    gates = evaluation.check_gates(evaluation.gates_of(m.data), numbers)
    followed = follow(tree, results.path)
    raw = tree.read(followed.path) if followed.problem is None else None
    return Evaluation(results.path, numbers, gates, bound, binding, list(results.problems), raw)
