from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import open_for
from gitmodelver.commands._serving import admit, version_ref, with_override
from gitmodelver.commands.envs import show
from gitmodelver.deploy import deployments, gates, ledger, sync
from gitmodelver.errors import CheckFailed, UsageError
from gitmodelver.gitstore import proc
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System


def _steps(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise UsageError(f"--steps {text}: not a list of percentages (like --steps 5,25,50,100)") from exc


def _parse_lines(text: str, source: str, system: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{source}:{number}: not JSON ({exc.msg}); observations are one JSON object a line, "
                '{"version": "1.2.0", "metric": "error_rate", "value": 0.01}'
            ) from exc
        if isinstance(row, dict) and isinstance(row.get("version"), str) and "@" not in row["version"]:
            row["version"] = f"{system}@v{row['version'].removeprefix('v')}"
        rows.append(row)
    return rows


def observations(args: argparse.Namespace, system: str) -> list[dict[str, Any]]:
    if getattr(args, "metrics_cmd", None):
        result = proc.run(shlex.split(args.metrics_cmd), check=False, parse=False)
        if result.returncode != 0:
            raise UsageError(f"--metrics-cmd exited {result.returncode}: {result.err.strip()[-200:]}")
        return _parse_lines(result.out, "--metrics-cmd", system)
    if not args.metrics:
        raise UsageError(
            "no observations given: pass --metrics with a file of JSON lines, or --metrics-cmd with a "
            "command that prints them"
        )
    path = Path(args.metrics)
    try:
        return _parse_lines(path.read_text("utf-8"), str(path), system)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file") from exc


def one_step(
    repo: Repo,
    sys_: System | None,
    env: str,
    rows: list[dict[str, Any]],
    *,
    quiet_hold: bool = False,
    remote: str | None = None,
) -> ledger.Event:
    """Analyse once and record the verdict; ``quiet_hold`` records no event for an unchanged hold.

    Through a remote, the verdict is recorded on top of the remote's ledger: if another machine changed
    the rollout meanwhile, the step is judged again against what it recorded (and refused when the
    rollout is no longer the one analysed)."""
    book = ledger.Ledger(repo)
    writer = sync.connect(book, remote)
    last = book.last(env)
    current = deployments.require_rolling(last, env=env)
    # Re-verified at every step: a candidate must still be what was released when it gains traffic.
    candidate = version_ref(repo, sys_, current["candidate"])
    rules = deployments.rules_of(candidate)
    minimum = int(current["rollout"].get("min_samples", 0))
    result = gates.analyse(rules, rows, current["stable"], candidate.tag, minimum)
    if quiet_hold and last is not None and _same_hold(last, result):
        return last
    who = ledger.actor(repo)
    return writer.append(
        env,
        lambda prev: deployments.step(prev, candidate, result, who, env=env),
        f"rollout {env}: {candidate.tag} analysis {result.verdict}",
    )


def _same_hold(last: ledger.Event, result: gates.Analysis) -> bool:
    """An inconclusive verdict on the same data as the last one: nothing new to record."""
    previous = last.get("analysis") or {}
    return (
        result.verdict == gates.INCONCLUSIVE
        and previous.get("verdict") == gates.INCONCLUSIVE
        and previous.get("metrics") == result.as_json()["metrics"]
    )


def _report(event: ledger.Event, as_json: bool) -> None:
    if as_json:
        output.emit_json(event.data)
        return
    verdict = (event.get("analysis") or {}).get("verdict")
    split = ", ".join(f"{t} {p:g}%" for t, p in event.traffic.items())
    output.say(f"{event.get('env')}: {event.type}{f' ({verdict})' if verdict else ''} -> {split}")
    for metric in (event.get("analysis") or {}).get("metrics", []):
        output.say(f"  {metric['verdict']:<12} {metric['metric']}: {metric['reason']}")


def _outcome(event: ledger.Event) -> int:
    if event.type == "rollback":
        raise CheckFailed(f"{event.get('version')} was rolled back: {event.get('reason')}")
    return 0


def run(args: argparse.Namespace) -> int:
    action = args.action
    if action == "status":
        book = ledger.Ledger(Repo(args.directory))
        sync.connect(book, args.remote)
        envs = [ledger.check_env(args.env)] if args.env else book.envs()
        tip = book.tip()
        states = {env: deployments.summary(book.last(env, tip)) for env in envs}
        output.emit_json(states) if args.json else show(states)
        return 0
    env = ledger.check_env(args.env)
    # step, watch and abort act on the tags the ledger recorded: full tags, whatever system they are of.
    repo, sys_ = open_for(args, args.version) if action == "start" else (Repo(args.directory), None)
    book = ledger.Ledger(repo)
    writer = sync.connect(book, args.remote)
    who = ledger.actor(repo)
    if action == "start":
        book.last(env)  # a broken ledger is refused before the slower verification, not after it
        version = version_ref(repo, sys_, args.version)
        steps = _steps(args.steps)
        command = f"git modelver rollout start {version.tag} --env {env}"
        past = admit(repo, book, env, version.tag, args.override_policy, command)
        event = writer.append(
            env,
            with_override(
                lambda prev: deployments.start(prev, version, steps, who, args.reason, env=env), past
            ),
            f"rollout {env}: start {version.tag}",
        )
        _report(event, args.json)
        return 0
    if action == "abort":
        stable = version_ref(
            repo, sys_, deployments.require_rolling(book.last(env), env=env)["stable"], check=False
        )
        event = writer.append(
            env,
            lambda prev: deployments.abort(prev, stable, who, args.reason, env=env),
            f"rollout {env}: abort",
        )
        _report(event, args.json)
        return 0
    if action == "step":
        event = one_step(repo, sys_, env, observations(args, _system_name(book, env)), remote=args.remote)
        _report(event, args.json)
        return _outcome(event)
    return watch(repo, sys_, env, args)


def _ended_elsewhere(book: ledger.Ledger, env: str) -> None:
    """Raise, saying who ended it and why, when the rollout in ``env`` was rolled back or aborted."""
    last = book.last(env)
    if last is None or last.get("state") == "rolling" or last.type not in ("rollback", "abort", "deploy"):
        return
    what = {"rollback": "rolled back", "abort": "aborted", "deploy": "replaced by a deploy"}[last.type]
    reason = f": {last.get('reason')}" if last.get("reason") else ""
    raise CheckFailed(
        f"the rollout in {env} was {what} by {last.get('actor')} at {last.at} (event {last.seq}){reason}; "
        f"{env} now serves " + (", ".join(f"{t} {p:g}%" for t, p in last.traffic.items()) or "nothing")
    )


def _system_name(book: ledger.Ledger, env: str) -> str:
    """The system the rollout in ``env`` is of (short version labels in observations belong to it)."""
    candidate = deployments.require_rolling(book.last(env), env=env)["candidate"]
    return str(candidate).split("@v", 1)[0]


def watch(repo: Repo, sys_: System | None, env: str, args: argparse.Namespace) -> int:
    """Step until promoted (exit 0) or rolled back (exit 1); inconclusive steps wait for more data.

    Another command (here, or on another machine through the remote) may end the rollout meanwhile: a
    rollback or an abort stops the watch with exit 1, naming who did it and why."""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    book = ledger.Ledger(repo)
    watching = False  # once the rollout was seen in progress, its end is someone else's doing
    while True:
        sync.connect(book, args.remote)
        if watching:
            _ended_elsewhere(book, env)
        name = _system_name(book, env)
        watching = True
        try:
            event = one_step(repo, sys_, env, observations(args, name), quiet_hold=True, remote=args.remote)
        except UsageError:
            _ended_elsewhere(book, env)  # the rollout ended while this step was being recorded
            raise
        _report(event, args.json)
        if event.type in ("promote", "rollback"):
            return _outcome(event)
        if deadline is not None and time.monotonic() > deadline:
            raise CheckFailed(
                f"rollout in {env} still at {event.traffic} after {args.timeout}s: watch it again, or stop "
                f"it with `git modelver rollout abort --env {env}`"
            )
        time.sleep(args.interval)
