"""Deployments as ledger events: deploy, gradual rollout, promotion, rollback (SPEC §7).

Every event carries the whole state after it (traffic split, stable, candidate, rollout progress), so
``envs``, ``rollout status`` and ``asof`` read one event, never a replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitmodelver import advice
from gitmodelver.deploy import gates
from gitmodelver.deploy.ledger import Event
from gitmodelver.errors import UsageError

DEFAULT_STEPS = (5, 25, 50, 100)


@dataclass(frozen=True)
class VersionRef:
    """A released version as the ledger records it: enough to re-verify it later."""

    tag: str
    tag_object: str
    digest: str | None
    state: str | None
    rollout: Mapping[str, Any]  # the version's [rollout] table

    def as_json(self) -> dict[str, Any]:
        return {"tag_object": self.tag_object, "digest": self.digest, "state": self.state}


def _state(prev: Event | None) -> dict[str, Any]:
    if prev is None:
        return {"traffic": {}, "stable": None, "candidate": None, "state": "empty", "versions": {}}
    keys = ("traffic", "stable", "candidate", "state", "versions", "rollout", "previous_stable")
    return {k: prev.get(k) for k in keys if prev.get(k) is not None}


def _event(
    kind: str, version: VersionRef, state: dict[str, Any], actor: str, reason: str | None
) -> dict[str, Any]:
    versions = dict(state.get("versions") or {})
    versions[version.tag] = version.as_json()
    live = {t for t in (*state["traffic"], state.get("stable"), state.get("candidate")) if t}
    state["versions"] = {t: v for t, v in versions.items() if t in live}
    event = {"type": kind, "version": version.tag, **version.as_json(), **state, "actor": actor}
    if reason:
        event["reason"] = reason
    return event


def deploy(
    prev: Event | None, version: VersionRef, actor: str, reason: str | None, *, env: str = "ENV"
) -> dict[str, Any]:
    state = _state(prev)
    if state.get("state") == "rolling":
        raise UsageError(
            f"a rollout of {state['candidate']} is in progress in {env}: finish it, or abort it first",
            fix=advice.modelver("rollout", "abort", "--env", env),
        )
    previous = state.get("stable")
    state.update(traffic={version.tag: 100}, stable=version.tag, candidate=None, state="stable")
    state.pop("rollout", None)
    if previous and previous != version.tag:
        state["previous_stable"] = previous
    return _event("deploy", version, state, actor, reason)


def _steps(steps: Sequence[float] | None, version: VersionRef, env: str) -> list[float]:
    chosen = list(steps or version.rollout.get("steps") or DEFAULT_STEPS)
    rising = all(a < b for a, b in zip(chosen, chosen[1:], strict=False))
    if not chosen or any(not 0 < s <= 100 for s in chosen) or not rising:
        where = "--steps" if steps else f"[rollout] steps of {version.tag}"
        raise UsageError(
            f"{where} {chosen}: each step must be above the one before, within (0, 100]",
            fix=advice.modelver("rollout", "start", version.tag, "--env", env, "--steps", "5,25,50,100"),
        )
    if chosen[-1] != 100:
        chosen.append(100)
    return [int(s) if float(s).is_integer() else float(s) for s in chosen]


def _split(stable: str, candidate: str, percent: float) -> dict[str, float]:
    if percent >= 100:
        return {candidate: 100}
    return {stable: 100 - percent, candidate: percent}


def start(
    prev: Event | None,
    version: VersionRef,
    steps: Sequence[float] | None,
    actor: str,
    reason: str | None,
    *,
    env: str = "ENV",
) -> dict[str, Any]:
    state = _state(prev)
    stable = state.get("stable")
    if not stable:
        raise UsageError(
            f"nothing serves in {env} to roll out against: deploy {version.tag} there instead",
            fix=advice.modelver("deploy", version.tag, "--env", env),
        )
    if stable == version.tag:
        raise UsageError(f"{version.tag} is already the stable version in {env}: roll out a later version")
    chosen = _steps(steps, version, env)
    # A new candidate (or the same one again) always starts its analysis from the first step.
    state.update(
        traffic=_split(stable, version.tag, chosen[0]),
        candidate=version.tag,
        state="rolling",
        rollout={
            "steps": chosen,
            "index": 0,
            "failures": 0,
            "candidate_digest": version.digest,
            "failure_limit": int(version.rollout.get("failure_limit", 0)),
            "min_samples": int(version.rollout.get("min_samples", 0)),
        },
    )
    return _event("rollout-start", version, state, actor, reason)


def rules_of(version: VersionRef) -> list[gates.MetricRule]:
    metrics = version.rollout.get("metrics") or {}
    return [
        gates.MetricRule.from_config(name, cfg) for name, cfg in metrics.items() if isinstance(cfg, Mapping)
    ]


def require_rolling(prev: Event | None, *, env: str = "ENV") -> dict[str, Any]:
    state = _state(prev)
    if state.get("state") != "rolling":
        raise UsageError(f"no rollout is in progress in {env}: `git modelver rollout start` begins one")
    return state


def step(
    prev: Event | None, candidate: VersionRef, result: gates.Analysis, actor: str, *, env: str = "ENV"
) -> dict[str, Any]:
    """Record one analysis and act on it: next step or promotion, hold, or rollback."""
    state = require_rolling(prev, env=env)
    if state["candidate"] != candidate.tag:
        raise UsageError(
            f"the rollout in {env} is of {state['candidate']}, not {candidate.tag}",
            fix=advice.modelver("rollout", "status", "--env", env),
        )
    rollout = dict(state["rollout"])
    stable = state["stable"]
    recorded = (state.get("versions") or {}).get(candidate.tag, {}).get("tag_object")
    if recorded and recorded != candidate.tag_object or rollout.get("candidate_digest") != candidate.digest:
        return _restart(state, candidate, recorded, actor)
    kind, reason = "rollout-step", f"analysis: {result.verdict}"
    if result.verdict == gates.PASS:
        rollout["index"] += 1
        if rollout["index"] >= len(rollout["steps"]):
            state.update(
                traffic={candidate.tag: 100},
                stable=candidate.tag,
                candidate=None,
                state="stable",
                previous_stable=stable,
            )
            state.pop("rollout", None)
            kind, reason = "promote", "every step passed"
        else:
            state["traffic"] = _split(stable, candidate.tag, rollout["steps"][rollout["index"]])
    elif result.verdict == gates.FAIL:
        rollout["failures"] += 1
        if rollout["failures"] > rollout.setdefault("failure_limit", 0):
            state.update(traffic={stable: 100}, candidate=None, state="rolled-back")
            state.pop("rollout", None)
            kind, reason = (
                "rollback",
                f"{rollout['failures']} failed analyses (limit {rollout['failure_limit']})",
            )
    if "rollout" in state:
        state["rollout"] = rollout
    event = _event(kind, candidate, state, actor, reason)
    event["analysis"] = {
        **result.as_json(),
        "step": rollout["steps"][min(rollout["index"], len(rollout["steps"]) - 1)]
        if kind == "rollout-step"
        else None,
    }
    return event


def _restart(
    state: dict[str, Any], candidate: VersionRef, recorded: str | None, actor: str
) -> dict[str, Any]:
    """The candidate's tag is not the one the rollout started with: start its analysis over."""
    rollout = {**state["rollout"], "index": 0, "failures": 0, "candidate_digest": candidate.digest}
    state.update(traffic=_split(state["stable"], candidate.tag, rollout["steps"][0]), rollout=rollout)
    change = f"tag object {str(recorded)[:12]} -> {candidate.tag_object[:12]}"
    reason = f"{candidate.tag} changed ({change}): analysis restarted"
    return _event("rollout-start", candidate, state, actor, reason)


def abort(
    prev: Event | None, stable: VersionRef, actor: str, reason: str | None, *, env: str = "ENV"
) -> dict[str, Any]:
    state = require_rolling(prev, env=env)
    state.update(traffic={state["stable"]: 100}, candidate=None, state="stable")
    state.pop("rollout", None)
    return _event("abort", stable, state, actor, reason or "aborted by hand")


def rollback_target(prev: Event | None, *, env: str = "ENV") -> str:
    state = _state(prev)
    if state.get("state") == "rolling":
        return str(state["stable"])
    target = state.get("previous_stable")
    if not target:
        raise UsageError(f"{env} has no earlier stable version to go back to: name one with --to")
    return str(target)


def rollback(
    prev: Event | None, target: VersionRef, actor: str, reason: str | None, *, env: str = "ENV"
) -> dict[str, Any]:
    state = _state(prev)
    if not state.get("stable"):
        raise UsageError(
            f"nothing has been deployed in {env}: deploy {target.tag} instead of rolling back to it",
            fix=advice.modelver("deploy", target.tag, "--env", env),
        )
    current = state["stable"]
    state.update(traffic={target.tag: 100}, stable=target.tag, candidate=None, state="stable")
    state.pop("rollout", None)
    if current != target.tag:
        state["previous_stable"] = current
    return _event("rollback", target, state, actor, reason or "rolled back by hand")


def summary(event: Event | None) -> dict[str, Any]:
    """The state of an environment as `envs` and `rollout status` report it."""
    if event is None:
        return {"traffic": {}, "stable": None, "candidate": None, "state": "empty"}
    out = {
        "traffic": event.traffic,
        "stable": event.get("stable"),
        "candidate": event.get("candidate"),
        "state": event.get("state"),
        "seq": event.seq,
        "at": event.at,
        "last_event": event.type,
    }
    if event.get("rollout"):
        out["rollout"] = event.get("rollout")
    return out
