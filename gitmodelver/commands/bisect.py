"""``git modelver bisect --good A --bad B [--components] -- CMD…`` (SPEC §6): arguments and output."""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Sequence
from typing import Any

from gitmodelver import output
from gitmodelver.bisect import oracle, probe
from gitmodelver.bisect.measured import Measured
from gitmodelver.bisect.session import ExitCodes, Judge, Session, count, execute, span
from gitmodelver.commands._arguments import open_system
from gitmodelver.core.diff import Change
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import mutex, versions
from gitmodelver.gitstore.tagmsg import change_line

METRIC_ONLY = ("confidence", "runs_per_version", "max_runs", "seed", "lower_is_better")


def _argv(cmd: Sequence[str]) -> list[str]:
    argv = list(cmd[1:] if cmd and cmd[0] == "--" else cmd)
    probe.check_startable(argv)
    return argv


def _plan(args: argparse.Namespace, versions: int) -> oracle.Plan:
    """The budgets and the confidence of a bisect by a metric, from the options (checked first)."""
    confidence = 0.95 if args.confidence is None else args.confidence
    if not 0.5 <= confidence < 1:
        raise UsageError(f"--confidence {args.confidence}: give a number from 0.5 up to (not including) 1")
    per_version = args.runs_per_version or oracle.Plan.per_version
    if per_version < 2:
        raise UsageError("--runs-per-version 1: a version needs at least 2 runs to show a difference")
    total = args.max_runs or oracle.default_total(versions, per_version)
    if total < 2:
        raise UsageError(f"--max-runs {total}: the two ends need at least 2 runs")
    decisions = oracle.planned_decisions(versions)
    return oracle.Plan(confidence, per_version, total, decisions, args.lower_is_better)


def _judge(args: argparse.Namespace, session: Session, versions: int) -> Judge:
    if args.metric is None:
        return ExitCodes(session)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    return Measured(session, args.metric, _plan(args, versions), seed)


def _check_options(args: argparse.Namespace) -> None:
    if args.metric is not None:
        return
    given = [name for name in METRIC_ONLY if getattr(args, name) not in (None, False)]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"{flag} only applies with --metric NAME (a bisect by a measured metric)")


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    repo, sys_ = open_system(args)
    argv = _argv(args.cmd)
    releases = versions.list_releases(repo, sys_.name)
    good = versions.find(releases, sys_.name, args.good)
    bad = versions.find(releases, sys_.name, args.bad)
    versions_ = span(releases, good, bad)
    if args.metric is not None:
        _plan(args, len(versions_))  # bad options stop here, before anything runs
    folder = repo.state_dir() / "bisect"
    folder.mkdir(exist_ok=True)
    with mutex.held(folder / "lock", "bisect"):
        session = Session(
            repo, sys_, argv, not args.no_weights, probe.Workspace(repo, folder), probe.StepLog(folder)
        )
        session.metric = args.metric
        judge = _judge(args, session, len(versions_))
        header = {"good": good.tag, "bad": bad.tag, "command": argv, "versions": len(versions_)}
        if isinstance(judge, Measured):
            header.update(metric=args.metric, seed=judge.seed, plan=vars(judge.plan))
        session.log.start(header)
        started = time.perf_counter()
        session.workspace.create(good.commit)
        try:
            result = execute(session, versions_, args.components, judge)
        except BaseException as exc:  # Ctrl-C too: the log says how the bisect ended
            session.log.write({"event": "error", "error": str(exc) or type(exc).__name__})
            raise
        finally:
            session.workspace.remove()
        result["seconds"] = round(time.perf_counter() - started, 3)
        result["log"] = str(session.log.file)
        session.log.write({"event": "done", **{k: v for k, v in result.items() if k != "steps"}})
    if result.get("regression") is False:
        output.warn(f"error: {_no_regression(result)}")
    if args.json:
        output.emit_json(result)
    else:
        _render(result)
    if result.get("regression") is False:
        return 2
    return 1 if len(result["candidates"]) > 1 else 0


def _render(result: dict[str, Any]) -> None:
    if result.get("regression") is False:
        output.say(_no_regression(result))
    elif result["first_bad"] is None:
        output.say(f"the first bad version could be any of: {', '.join(result['candidates'])}")
        hidden = "undecided or skipped" if "metric" in result else "skipped"
        output.say(f"  ({hidden} versions hide the boundary; last good: {result['last_good']})")
    else:
        output.say(f"first bad version: {result['first_bad']} (last good: {result['last_good']})")
        if result.get("effect"):
            output.say(f"  {_effect(result['metric'], result['effect'])}")
        output.say(f"{result['last_good']} -> {result['first_bad']}: {result.get('bump') or 'no release'}")
        for change in result["changes"]:
            output.say(f"  {change['level']:<6} {change_line(Change(**change))}")
    if result.get("note"):
        output.say(f"note: {result['note']}")
    components = result.get("components")
    if "components" in result and components is None:
        output.say("no component changed between them: the cause lies outside the manifest")
    if components:
        _render_culprits(components)
    if "decisions" in result:
        _render_decisions(result)
    _render_runs(result)


def _render_runs(result: dict[str, Any]) -> None:
    kinds = [s["kind"] for s in result["steps"]]
    ends = sum(1 for k in kinds if k.startswith("check-"))
    hybrids = kinds.count("hybrid")
    skipped = len(result["skipped"])
    seed = f"; seed {result['metric']['seed']}" if "metric" in result else ""
    output.say(
        f"runs: {result['runs']} ({ends} end checks, {kinds.count('version')} versions"
        + (f", {hybrids} hybrids" if result.get("components") else "")
        + (f", {skipped} {'undecided' if 'metric' in result else 'skipped'}" if skipped else "")
        + f") in {result['seconds']:.1f}s{seed}; log: {result['log']}"
    )


def _num(value: float) -> str:
    return f"{value:.4g}"


def _effect(metric: dict[str, Any], effect: dict[str, Any]) -> str:
    low, high = effect["ci"]
    unit = "runs" if effect["test"] == "welch-runs" else "items"
    return (
        f"{metric['name']} {_num(effect['good_mean'])} -> {_num(effect['bad_mean'])}: effect "
        f"{effect['effect']:+.4g} ({effect['confidence']:.0%} CI {low:+.4g} to {high:+.4g}; "
        f"{effect['test']} test, {effect['units'][0]} {unit} of versions judged good against "
        f"{effect['units'][1]} judged bad)"
    )


def _no_regression(result: dict[str, Any]) -> str:
    metric, ends = result["metric"], result["decisions"][0]
    found = "better than" if ends["decision"] == "good" else "not shown worse than"
    head = (
        f"no significant regression: {result['bad']} is {found} {result['good']} at "
        f"{metric['confidence']:.0%} confidence ({ends['runs']} runs: {ends['reason']})"
    )
    compared = ends["vs_good"]
    if compared is None:
        return head
    low, high = compared["ci"]
    return (
        f"{head}; {metric['name']} effect {compared['effect']:+.4g}, {compared['confidence']:.0%} CI "
        f"{low:+.4g} to {high:+.4g}; bisect needs a --bad version that is measurably worse"
    )


def _render_decisions(result: dict[str, Any]) -> None:
    metric = result["metric"]
    better = "higher" if metric["higher_is_better"] else "lower"
    output.say(
        f"decisions by {metric['name']} ({better} is better; {metric['confidence']:.0%} confidence "
        f"overall, each look at p < {metric['alpha']:.2g}):"
    )
    for d in result["decisions"]:
        what = d["version"] if d["kind"] != "hybrid" else f"hybrid [{', '.join(d['changes'])}]"
        mean = "" if d["mean"] is None else f"mean {_num(d['mean'])}, "
        if d["kind"] == "ends":
            what, verdict = "ends", {"bad": "regression", "good": "improvement"}.get(d["decision"], "none")
            evidence = f"bad end {mean}worse than good: p={d['p_worse_than_good']:.2g}"
        else:
            verdict = d["decision"]
            evidence = (
                f"{mean}worse than good: p={d['p_worse_than_good']:.2g}, "
                f"better than bad: p={d['p_better_than_bad']:.2g}"
            )
        output.say(f"  {what:<24} {verdict:<10} {count(d['runs'], 'run'):>8}  {evidence}")
    if result["undecided"]:
        output.say(
            f"note: {count(len(result['undecided']), 'state')} undecided; more runs may decide: raise "
            f"--runs-per-version (now {metric['runs_per_version']}) or --max-runs (now {metric['max_runs']})"
        )


def _render_culprits(components: dict[str, Any]) -> None:
    culprits = components["culprits"]
    outside = components["outside_manifest"]
    if outside:
        shown = ", ".join(outside[:3]) + (", …" if len(outside) > 3 else "")
        output.say(
            f"note: {count(len(outside), 'file')} outside the manifest also changed ({shown}); "
            "hybrids keep the good version's copies"
        )
    together = " together with ".join(culprits)
    alone = " alone" if len(culprits) == 1 else ""
    among = count(len(components["units"]), "change")
    output.say(f"culprit: {together}{alone} ({components['level']}), among {among}")
    for detail in components["details"]:
        for change in detail["changes"]:
            output.say(f"  {change['level']:<6} {change_line(Change(**change))}")
        if detail["diff"]:
            output.say("\n".join(f"    {line}" for line in detail["diff"].splitlines()))
