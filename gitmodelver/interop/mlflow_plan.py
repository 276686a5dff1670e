"""What the MLflow Model Registry should hold for a system: pure, from values the export gathered.

One model version per release (tags from the tag and its signature, the release message as description,
weights referenced by DVC path and md5), one prompt version per distinct prompt text, and one alias per
environment from the ledger: ``@ENV`` is the version serving there at 100% (the stable one during a
rollout, whose candidate is ``@ENV-candidate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.gitstore import tagmsg

TAG_KEY = "modelver.tag"  # the model version's release: what makes an export idempotent
SHA_KEY = "modelver.sha256"  # a prompt version's text, by the sha256 of the blob Git stores
MANAGED_ALIASES = "modelver.aliases"  # the registered model's aliases this tool set (it removes only those)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_ALIAS = re.compile(r"^[\w-]+$")
_RESERVED = re.compile(r"^(latest|v\d+|version\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class PromptSpec:
    key: str  # the manifest's key under [prompts]
    name: str  # the prompt's name in MLflow's prompt registry
    text: str
    sha256: str


@dataclass(frozen=True)
class VersionSpec:
    tag: str
    tags: dict[str, str]
    description: str
    prompts: list[PromptSpec]
    weights: dict[str, str]  # `weights.KEY.dvc` / `.md5` -> value: referenced, never copied


def prompt_name(model: str, key: str) -> str:
    """``MODEL.KEY`` with what MLflow refuses in a name replaced by ``-``."""
    return _NAME.sub("-", f"{model}.{key}")


def description(message: str) -> str:
    """The tag message as a person wrote and reads it: no signature block, no trailer block."""
    text = tagmsg.strip_signature(message).rstrip()
    head, _, last = text.rpartition("\n\n")
    if head and all(line.startswith("Modelver-") for line in last.splitlines()):
        text = head.rstrip()
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def version_tags(facts: Mapping[str, Any]) -> dict[str, str]:
    """``modelver.*`` tags from the release's facts (version, digests, commit, level, signer, verified)."""
    return {f"modelver.{key}": _text(value) for key, value in facts.items()}


def weights_of(data: Mapping[str, Any]) -> dict[str, str]:
    """Every DVC-tracked file of a manifest as ``SECTION.KEY.dvc`` and ``….md5`` (never its bytes)."""
    found: dict[str, str] = {}

    def walk(table: Mapping[str, Any], key: tuple[str, ...]) -> None:
        if isinstance(table.get("dvc"), str):
            name = ".".join(key)
            found[f"{name}.dvc"] = table["dvc"]
            if isinstance(table.get("md5"), str):
                found[f"{name}.md5"] = table["md5"]
            return
        for sub, value in table.items():
            if isinstance(value, Mapping):
                walk(value, (*key, str(sub)))

    for section, value in data.items():
        if section not in ("system", "policy", "rollout") and isinstance(value, Mapping):
            walk(value, (section,))
    return found


def alias_name(env: str) -> str | None:
    """The alias an environment becomes, or None when MLflow would refuse it (``latest``, ``v1``, a dot)."""
    return env if _ALIAS.match(env) and not _RESERVED.match(env) else None


def aliases(states: Mapping[str, Mapping[str, Any]], tags: Iterable[str]) -> dict[str, str]:
    """alias -> release tag, for the environments serving one of ``tags``."""
    known = set(tags)
    found: dict[str, str] = {}
    for env, state in sorted(states.items()):
        name = alias_name(env)
        traffic = state.get("traffic") or {}
        full = [t for t, pct in traffic.items() if pct >= 100]
        serving = full[0] if full else state.get("stable")
        if name is None:
            continue
        if serving in known:
            found[name] = serving
        candidate = state.get("candidate")
        if candidate in known and candidate != serving and alias_name(f"{env}-candidate"):
            found[f"{env}-candidate"] = candidate
    return found
