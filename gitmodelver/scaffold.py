"""Text that ``init`` writes: a commented manifest and the pre-commit hook block."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

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


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def prompt_globs(prompts: dict[str, str]) -> list[str]:
    """One glob per suffix of the prompts found, so the globs match exactly the kinds of files named:
    a ``.gitkeep`` or ``config.yaml`` beside them is no prompt."""
    suffixes = sorted({PurePosixPath(path).suffix for path in prompts.values()})
    return [f"prompts/**/*{suffix}" for suffix in suffixes]


def _policy(globs: list[str]) -> list[str]:
    lines = ["[policy]", "require_signed = false"]
    if globs:
        lines.append(f"prompt_globs = [{', '.join(_q(g) for g in globs)}]")
    else:
        lines.append('# prompt_globs = ["prompts/**/*.j2"]   # files that count as prompts once added')
    return [*lines, ""]


def manifest_text(name: str, prompts: dict[str, str], weights: dict[str, str], evals: dict[str, str]) -> str:
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
    for key, path in weights.items():
        lines += [f"[weights.{key}]", f"dvc = {_q(path)}", ""]
    for key, path in prompts.items():
        lines += [f"[prompts.{key}]", f"path = {_q(path)}", ""]
    lines += ["[parameters]", "temperature = 0.2", ""]
    if evals:
        lines.append("[evaluation]")
        lines += [f"{k} = {{ path = {_q(v)} }}" for k, v in evals.items()]
        lines.append("")
    lines += _policy(prompt_globs(prompts))
    return "\n".join(lines)
