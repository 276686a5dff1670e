"""The ``no-raw-weights`` hook: weights go to DVC, never into Git (SPEC §9)."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from gitmodelver.guards.globs import glob_regex, relative_to
from gitmodelver.guards.problems import Problem
from gitmodelver.guards.staged import Staged, StagedManifest

MIB = 1024 * 1024
DEFAULT_MAX_FILE_SIZE = 10 * MIB
# File types that hold weights, checkpoints, arrays or vector indexes: they belong in DVC, not Git.
WEIGHT_PATTERNS: tuple[str, ...] = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.gguf",
    "*.ggml",
    "*.onnx",
    "*.h5",
    "*.hdf5",
    "*.keras",
    "*.pb",
    "*.tflite",
    "*.mlmodel",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.pkl",
    "*.pickle",
    "*.joblib",
    "*.faiss",
    "*.data-?????-of-?????",
)


@dataclass(frozen=True)
class WeightPolicy:
    max_file_size: int
    patterns: tuple[str, ...]  # gitignore-like: the last match wins, "!" exempts

    def weight_like(self, path: str) -> bool:
        hit = False
        for pattern in self.patterns:
            negate = pattern.startswith("!")
            body = pattern[1:] if negate else pattern
            target = path if "/" in body.strip("/") else posixpath.basename(path)
            if glob_regex(body.strip("/")).fullmatch(target):
                hit = not negate
        return hit


def weight_policy(m: StagedManifest | None) -> WeightPolicy:
    policy = m.policy if m is not None else {}
    size = policy.get("max_file_size")
    extra = policy.get("weight_patterns")
    extra_patterns = tuple(p for p in extra if isinstance(p, str)) if isinstance(extra, list) else ()
    limit = size if isinstance(size, int) and not isinstance(size, bool) else DEFAULT_MAX_FILE_SIZE
    return WeightPolicy(limit, WEIGHT_PATTERNS + extra_patterns)


def _governing(st: Staged, path: str) -> StagedManifest | None:
    """The manifest of the innermost system folder holding ``path`` (none: the defaults apply)."""
    best: StagedManifest | None = None
    for m in st.manifests:
        if relative_to(path, m.base) is not None and (best is None or len(m.base) > len(best.base)):
            best = m
    return best


def _human(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def dvc_fix(st: Staged, path: str) -> str:
    folder = posixpath.dirname(path)
    gitignore = shlex.quote(f"{folder}/.gitignore" if folder else ".gitignore")
    init = "" if (st.root / ".dvc").is_dir() else "dvc init && "
    q = shlex.quote(path)
    # `dvc add` refuses a file Git tracks, so it leaves the index first.
    return f"git rm --cached -q {q} && {init}dvc add {q} && git add {shlex.quote(path + '.dvc')} {gitignore}"


def no_raw_weights(st: Staged, files: Sequence[str] = ()) -> list[Problem]:
    """Weight-like files, and files over ``policy.max_file_size``, staged into Git instead of DVC."""
    problems: list[Problem] = []
    for path in files or st.changed:
        if path.endswith(".dvc") or st.entry(path) is None:
            continue
        policy = weight_policy(_governing(st, path))
        size = st.size(path) or 0
        if policy.weight_like(path):
            what = f"{path}: weights ({_human(size)}) staged into Git; weights are tracked by DVC"
        elif size > policy.max_file_size:
            what = (
                f"{path}: {_human(size)} staged into Git, over the {_human(policy.max_file_size)} limit "
                "(policy.max_file_size); large files are tracked by DVC"
            )
        else:
            continue
        problems.append(Problem(what, fix=dvc_fix(st, path)))
    return problems
