"""Promotion rules: what a version must have done in other environments before it may serve in one.

A manifest says, per target environment, which environments the version must have served in first, for
how long (in all, at any share above zero), and which gates it must have passed there::

    [promotion.prod]
    after = ["staging"]      # served in staging first…
    soak = "24h"             # …for 24 hours in all (s, m, h, d)
    gates = ["rollout"]      # and reached 100% there through a rollout whose analyses passed ("eval":
                             # its evaluation results certify it and pass its gates)

The rule is read from the manifest of the version being deployed and from the one serving in the target
environment now, and the stricter wins (every ``after`` of both, the longer ``soak``, every gate): a
version cannot loosen the rule that admits it. What each version did is read from the ledger.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitmodelver.deploy import timeline
from gitmodelver.deploy.ledger import Event, Ledger, format_time
from gitmodelver.errors import CheckFailed

_SOAK = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OVERRIDE = "--override-policy"


def soak_seconds(text: str) -> float:
    match = _SOAK.match(text.strip())
    if match is None:  # the schema refuses it first; a manifest read without validation gets no soak
        return 0.0
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class Rule:
    """What a version needs before it may serve in ``env``, and which manifests asked for it."""

    env: str
    after: tuple[str, ...] = ()
    soak: float = 0.0  # seconds
    gates: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # the tags whose manifests set it

    @property
    def empty(self) -> bool:
        return not self.after

    def describe(self) -> str:
        if self.empty:
            return "none"
        parts = [f"after {', '.join(self.after)}"]
        if self.soak:
            parts.append(f"for {_duration(self.soak)}")
        if self.gates:
            parts.append(f"with {' and '.join(self.gates)} gates passed there")
        return " ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "after": list(self.after),
            "soak_seconds": self.soak,
            "gates": list(self.gates),
            "from": list(self.sources),
        }


def rule_of(data: Mapping[str, Any], env: str, source: str) -> Rule:
    table = data.get("promotion")
    entry = table.get(env) if isinstance(table, Mapping) else None
    if not isinstance(entry, Mapping):
        return Rule(env)
    after = tuple(str(e) for e in entry.get("after") or () if isinstance(e, str))
    soak = soak_seconds(entry["soak"]) if isinstance(entry.get("soak"), str) else 0.0
    gates = tuple(str(g) for g in entry.get("gates") or () if g in ("rollout", "eval"))
    return Rule(env, after, soak, gates, (source,) if after else ())


def stricter(a: Rule, b: Rule) -> Rule:
    return Rule(
        a.env,
        tuple(dict.fromkeys((*a.after, *b.after))),
        max(a.soak, b.soak),
        tuple(dict.fromkeys((*a.gates, *b.gates))),
        tuple(dict.fromkeys((*a.sources, *b.sources))),
    )


@dataclass
class Judgement:
    rule: Rule
    version: str
    missing: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return not self.missing

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.describe(),
            **self.rule.as_json(),
            "version": self.version,
            "held": self.held,
            "missing": self.missing,
        }


def judge(
    book: Ledger,
    rule: Rule,
    tag: str,
    evaluation_passed: Callable[[], bool],
    now: str | None = None,
) -> Judgement:
    """Whether ``tag`` meets ``rule``, from the ledger of each environment the rule names."""
    found = Judgement(rule, tag)
    until = now or format_time_now()
    for env in rule.after:
        events = [e.data for e in book.events(env)] if env in book.envs() else []
        served = _served_seconds(events, tag, until)
        if served <= 0:
            found.missing.append(f"{tag} never served in {env}")
            continue
        if served < rule.soak:
            found.missing.append(f"{tag} served {_duration(served)} in {env}, {_duration(rule.soak)} needed")
        if "rollout" in rule.gates and not _promoted(events, tag):
            found.missing.append(f"{tag} was never promoted in {env} by a rollout whose analyses passed")
    if "eval" in rule.gates and rule.after and not evaluation_passed():
        found.missing.append(f"{tag}'s evaluation results do not certify it, or fail its gates")
    return found


def format_time_now() -> str:
    import datetime as dt

    return format_time(dt.datetime.fromtimestamp(time.time(), dt.UTC))


def _served_seconds(events: Sequence[Mapping[str, Any]], tag: str, until: str) -> float:
    """How long ``tag`` had a share above zero, in all, up to ``until``."""
    if not events:
        return 0.0
    cut = timeline.segments(events, str(events[0]["at"]), until)
    return sum(timeline.seconds(s.start, s.end) for s in cut if s.traffic.get(tag, 0) > 0)


def _promoted(events: Sequence[Mapping[str, Any]], tag: str) -> bool:
    return any(e.get("type") == "promote" and e.get("version") == tag for e in events)


def refuse(found: Judgement, env: str, command: str) -> CheckFailed:
    """The error for a version the rule does not admit, naming the rule and what is missing."""
    return CheckFailed(
        f"{found.version} may not serve in {env} yet: the promotion rule of {env} ({found.rule.describe()}, "
        f"from {', '.join(found.rule.sources)}) does not hold: {'; '.join(found.missing)}; wait, or record "
        f"why it must go now with `{command} {OVERRIDE} REASON`"
    )


def override_record(found: Judgement, reason: str) -> dict[str, Any]:
    """What the ledger records of a deploy that went past the rule."""
    return {"reason": reason, "rule": found.rule.describe(), "missing": list(found.missing)}


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds:.0f}s"


def latest(book: Ledger, env: str) -> Event | None:
    return book.last(env) if env in book.envs() else None
