"""Manifest diffs and their semver levels (SPEC §3). Pure functions, no I/O."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.core.semver import LEVELS, level_rank

IGNORED = "ignored"

# First match wins; a pattern matches the path itself, anything below it, and globs over dots.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("system.version", IGNORED),
    ("base_model", "major"),
    ("weights", "minor"),
    ("prompts", "minor"),
    ("retrieval", "minor"),
    ("serving.quantization", "minor"),
    ("parameters", "patch"),
    ("serving", "patch"),
    ("evaluation", "patch"),
    ("system", "none"),
    ("policy", "none"),
    ("rollout", "none"),
    ("promotion", "none"),
    ("*", "minor"),
)


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any
    level: str

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new, "level": self.level}


def _key(name: str) -> str:
    return f'"{name}"' if "." in name or not name else name


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{_key(name)}" if prefix else _key(name)


def matches(pattern: str, path: str) -> bool:
    if pattern.endswith(".*") and path == pattern[:-2]:
        return True
    return path == pattern or path.startswith(pattern + ".") or fnmatch.fnmatchcase(path, pattern)


def classify(path: str, overrides: Mapping[str, str] | None = None) -> str:
    if path == "system.version":
        return IGNORED
    for pattern, level in (overrides or {}).items():
        if matches(pattern, path):
            return level
    for pattern, level in DEFAULT_RULES:
        if matches(pattern, path):
            return level
    return "minor"  # unreachable: "*" matches everything


def _differs(a: Any, b: Any) -> bool:
    # 1 and 1.0 are equal in Python but not in the manifest (nor in its digest).
    return type(a) is not type(b) or a != b


def _table(value: Any) -> bool:
    """A TOML table: a dict nearly always, told apart without the abstract-class check."""
    return type(value) is dict or (type(value) not in _SCALARS and isinstance(value, Mapping))


_SCALARS = frozenset({str, int, float, bool, list, type(None)})


def _walk(old: Any, new: Any, path: str) -> Iterable[tuple[str, Any, Any]]:
    if _table(old) and _table(new):
        for name, value in new.items():
            if name in old:
                before = old[name]
                if before is not value:  # the same object (a table both manifests share): no change
                    yield from _walk(before, value, join(path, str(name)))
            else:
                yield join(path, str(name)), None, value
        for name, value in old.items():
            if name not in new:
                yield join(path, str(name)), value, None
    elif _differs(old, new):
        yield path, old, new


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> list[Change]:
    """Every change from ``old`` to ``new``; an added or removed table is one change at its path.

    ``overrides`` are the new manifest's ``policy.bump``. The old manifest's rules apply too and the higher
    level wins, so a commit cannot lower its own release level by editing the policy alongside the change.
    """
    return list(changes(old, new, overrides))


def changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> Iterator[Change]:
    """``diff``'s changes one by one, in the same order: for a caller that stops at the first that matters."""
    rules = tuple((overrides or {}).items())
    previous = tuple(policy_overrides(old).items()) if old is not None else None
    for path, a, b in _walk(old or {}, new, ""):
        level = _level(path, rules, previous)
        if level != IGNORED:
            yield Change(path, a, b, level)


@functools.lru_cache(maxsize=4096)  # the same paths change from release to release, under the same rules
def _level(
    path: str, rules: tuple[tuple[str, str], ...], previous: tuple[tuple[str, str], ...] | None
) -> str:
    """The level of a change at ``path`` under the new manifest's rules and, when higher, the old one's."""
    level = classify(path, dict(rules))
    if previous is not None and level != IGNORED:
        level = max(level, classify(path, dict(previous)), key=level_rank)
    return level


def bump_level(changes: Iterable[Change]) -> str | None:
    """The highest level among the changes; None when nothing calls for a release."""
    best = max((level_rank(c.level) for c in changes), default=0)
    return LEVELS[best] if best > 0 else None


def policy_overrides(data: Mapping[str, Any]) -> dict[str, str]:
    policy = data.get("policy")
    bump = policy.get("bump") if isinstance(policy, Mapping) else None
    return {str(k): str(v) for k, v in bump.items()} if isinstance(bump, Mapping) else {}
