"""``git modelver bisect --good A --bad B [--components] -- CMD…`` (SPEC §6): arguments and output."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from gitmodelver import output
from gitmodelver.bisect import probe
from gitmodelver.bisect.session import Session, count, execute, span
from gitmodelver.commands import open_system
from gitmodelver.core.diff import Change
from gitmodelver.gitstore import mutex, versions
from gitmodelver.gitstore.tagmsg import change_line


def _argv(cmd: Sequence[str]) -> list[str]:
    argv = list(cmd[1:] if cmd and cmd[0] == "--" else cmd)
    probe.check_startable(argv)
    return argv


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    argv = _argv(args.cmd)
    releases = versions.list_releases(repo, sys_.name)
    good = versions.find(releases, sys_.name, args.good)
    bad = versions.find(releases, sys_.name, args.bad)
    versions_ = span(releases, good, bad)
    folder = repo.state_dir() / "bisect"
    folder.mkdir(exist_ok=True)
    with mutex.held(folder / "lock", "bisect"):
        session = Session(
            repo, sys_, argv, not args.no_weights, probe.Workspace(repo, folder), probe.StepLog(folder)
        )
        session.log.start({"good": good.tag, "bad": bad.tag, "command": argv, "versions": len(versions_)})
        started = time.perf_counter()
        session.workspace.create(good.commit)
        try:
            result = execute(session, versions_, args.components)
        except BaseException as exc:  # Ctrl-C too: the log says how the bisect ended
            session.log.write({"event": "error", "error": str(exc) or type(exc).__name__})
            raise
        finally:
            session.workspace.remove()
        result["seconds"] = round(time.perf_counter() - started, 3)
        result["log"] = str(session.log.file)
        session.log.write({"event": "done", **{k: v for k, v in result.items() if k != "steps"}})
    if args.json:
        output.emit_json(result)
    else:
        _render(result)
    return 1 if len(result["candidates"]) > 1 else 0


def _render(result: dict[str, Any]) -> None:
    if result["first_bad"] is None:
        output.say(f"the first bad version could be any of: {', '.join(result['candidates'])}")
        output.say(f"  (skipped versions hide the boundary; last good: {result['last_good']})")
    else:
        output.say(f"first bad version: {result['first_bad']} (last good: {result['last_good']})")
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
    runs, skipped = result["runs"], len(result["skipped"])
    hybrids = components["runs"] if components else 0
    output.say(
        f"runs: {runs} (2 end checks, {runs - 2 - hybrids} versions"
        + (f", {hybrids} hybrids" if components else "")
        + (f", {skipped} skipped" if skipped else "")
        + f") in {result['seconds']:.1f}s; log: {result['log']}"
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
