"""Audit (SPEC §8): what served in an environment over a period, and everything about each version.

Read from Git alone: the ledger branch for the timeline, the tags and the commits they name for the rest.
Signatures and every other claim are re-verified now (``verify_releases``), not copied from the ledger;
the tag object the ledger recorded at deploy time is compared with the tag as it is now, so a tag replaced
after it served shows as failed. The result is plain JSON (``schemas/audit.schema.json``) that the
Markdown and HTML renderers draw from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitmodelver import __version__, output
from gitmodelver.audit import lineage
from gitmodelver.audit.stamp import PLACEHOLDER
from gitmodelver.core import digest, evaluation
from gitmodelver.core.diff import bump_level, diff, policy_overrides
from gitmodelver.core.filerefs import NON_COMPONENTS
from gitmodelver.core.manifest import Manifest
from gitmodelver.core.semver import parse_tag
from gitmodelver.deploy import ledger as ledger_mod
from gitmodelver.deploy import ledger_sound, timeline
from gitmodelver.errors import BrokenLedger, ManifestError, UsageError
from gitmodelver.gitstore import signature, system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.gitstore.versions import Release, list_releases
from gitmodelver.release import verify

SCHEMA_ID = "https://gitmodelver.dev/schemas/audit.schema.json"


def gather(repo: Repo, env: str, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """The report data for ``env`` over ``[since, until)`` (defaults: the first event, now)."""
    book = ledger_mod.Ledger(repo)
    ledger_mod.check_env(env)
    generated = ledger_mod.now()
    period = _Period(book, env)
    start = ledger_mod.parse_when(since) if since else period.first
    end = ledger_mod.parse_when(until) if until else generated
    if end <= start:
        raise UsageError(f"the period is empty: --since {start} is not before --until {end}")
    events = period.events(start, end)
    cut = timeline.segments(events, start, end)
    serving = timeline.served(cut)
    decisions = timeline.in_period(events, start, end)
    total = timeline.seconds(start, end)
    found = Auditor(repo, events, decisions).versions(serving, total)
    # The ledger's own problems count as failures too (file:line), so every rendering names them.
    failed = [v["tag"] for v in found if not v["verification"]["ok"]] + period.sound["problems"]
    return {
        "$schema": SCHEMA_ID,
        "report": "gitmodelver audit",
        "tool": {"name": "gitmodelver", "version": __version__},
        "generated_at": generated,
        "env": env,
        "period": {"since": start, "until": end},
        "repository": {"path": str(repo.root), "ledger_ref": ledger_mod.REF, "ledger_tip": str(book.tip())},
        "ledger": period.sound,
        "ok": not failed,
        "summary": {
            "versions": len(found),
            "failed": failed,
            "events": len(decisions),
            # deploys and rollouts that went past the environment's promotion rule, by seq
            "overrides": [e["seq"] for e in decisions if isinstance(e.get("override"), Mapping)],
        },
        "timeline": [s.as_json() for s in cut],
        "events": [_event(e) for e in decisions],
        "versions": found,
        "report_digest": PLACEHOLDER,
    }


class _Period:
    """The environment's events as a report reads them: a sound ledger only over the period's shards; a
    broken one in full, because a broken line fails the report but does not stop it (the rest still counts,
    and the ledger check names every problem, file:line)."""

    def __init__(self, book: ledger_mod.Ledger, env: str) -> None:
        self.book, self.env = book, env
        self.read: ledger_sound.Verdict | None = None  # the whole environment, when it is broken
        self.sound: dict[str, Any] = {"ok": True, "file": book.place(env), "problems": [], "fix": None}
        try:
            first = book.first_at(env)
        except BrokenLedger as error:
            self.read = book.scan(env)
            first = str(self.read.events[0]["at"]) if self.read.events else None
            if first is None:
                raise
            # A gap, an edit or a forged line makes the whole timeline doubtful, whatever each version's
            # own verification says.
            problems = [str(p) for p in self.read.problems]
            self.sound.update(ok=False, problems=problems, fix=error.fix)
        if first is None:
            known = ", ".join(book.envs()) or "none yet"
            raise UsageError(f"the ledger has no events for '{env}' (environments: {known})")
        self.first = first

    def events(self, since: str, until: str) -> list[dict[str, Any]]:
        """The period's events, after the one in force at its start (its split, and the tag objects
        recorded for the versions serving then)."""
        if self.read is not None:
            return self.read.events
        return [event.data for event in self.book.between(self.env, since, until)]


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("seq", "at", "type", "version", "traffic", "actor", "reason", "state", "analysis", "override")
    return {k: event.get(k) for k in keys if event.get(k) is not None}


@dataclass
class Auditor:
    repo: Repo
    events: list[dict[str, Any]]  # the period's, from the one in force at its start (tag objects recorded)
    decisions: list[Mapping[str, Any]]  # the events in the period
    systems: dict[str, system.System] | None = None
    context: verify.Context = field(init=False)  # the verification of the system being reported
    recorded: dict[str, dict[str, int]] = field(init=False)  # tag -> tag object -> first event recording it
    about: dict[str, list[Mapping[str, Any]]] = field(init=False)  # tag -> the period's events about it

    def __post_init__(self) -> None:
        # One pass each over the events, not one per version: 10,000 events x 1,000 versions adds up.
        self.recorded = _recorded_objects(self.events)
        self.about = {}
        for event in self.decisions:
            self.about.setdefault(str(event.get("version")), []).append(event)

    def versions(self, serving: Mapping[str, timeline.Served], total: float) -> list[dict[str, Any]]:
        by_system: dict[str, list[str]] = {}
        for tag in serving:
            parsed = parse_tag(tag)
            by_system.setdefault(parsed[0] if parsed else "", []).append(tag)
        result: dict[str, dict[str, Any]] = {}
        for name, tags in by_system.items():
            result.update(self._system_versions(name, tags, serving, total))
        return [result[tag] for tag in serving]

    def _system_versions(
        self, name: str, tags: list[str], serving: Mapping[str, timeline.Served], total: float
    ) -> dict[str, dict[str, Any]]:
        sys_ = self._system(name)
        releases = {r.tag: r for r in list_releases(self.repo, name)} if name else {}
        present = [releases[t] for t in tags if t in releases]
        # `verify_releases`, with its context kept: the same checks (one `git verify-tag` per tag object,
        # verdicts cached under the current trust), and the manifests they parsed serve the report too.
        sigs = signature.verify_cached(self.repo, present) if present else {}
        self.context = verify.Context(self.repo, sys_, signatures=sigs)
        reports = {r.tag: verify.check_release(self.context, r) for r in output.progress(present, "audit")}
        out = {}
        for tag in tags:
            served = _served(serving[tag], total)
            release = releases.get(tag)
            if release is None:
                out[tag] = _missing(tag, name, served)
                continue
            report = reports[tag]
            checks = [c.as_json() for c in report.checks] + [self._anchor(release)]
            out[tag] = {
                **self._identity(release, sigs.get(tag, signature.UNSIGNED)),
                "verification": {"ok": all(c["ok"] for c in checks), "checks": checks},
                "served": served,
                **self._contents(release, releases),
                "decisions": [_event(e) for e in self.about.get(tag, [])],
            }
        return out

    def _system(self, name: str) -> system.System:
        if self.systems is None:
            try:
                self.systems = {s.name: s for s in system.discover(self.repo)}
            except ManifestError:
                self.systems = {}
        # A system no longer in the working tree is still audited from its tags' own manifests.
        return self.systems.get(name) or system.System(name, "modelver.toml")

    def _anchor(self, release: Release) -> dict[str, Any]:
        """The tag object the ledger recorded when the version was deployed, against the tag now."""
        recorded = sorted(self.recorded.get(release.tag, {}).items())
        moved = [(obj, seq) for obj, seq in recorded if obj != release.target]
        if moved:
            obj, seq = moved[0]
            return {
                "name": "ledger",
                "ok": False,
                "detail": f"the ledger recorded tag object {obj[:12]} for {release.tag} (event {seq}); "
                f"the tag now is {release.target[:12]}: it was replaced after it was deployed; restore it "
                "from a trusted remote and treat this copy as forged",
            }
        detail = f"tag object {release.target[:12]} is the one the ledger recorded at deploy time"
        return {"name": "ledger", "ok": True, "detail": detail if recorded else "not recorded by the ledger"}

    def _identity(self, release: Release, sig: signature.Signature) -> dict[str, Any]:
        from gitmodelver import output

        return {
            "tag": release.tag,
            "system": release.name,
            "version": str(release.version),
            "commit": release.commit,
            "tag_object": release.target,
            "digest": release.digest,
            "state": release.state,
            "bump": release.bump,
            "previous": release.previous,
            "released_at": output.when(release.time, release.offset),
            "tagger": release.tagger,
            "signature": sig.as_json(),
            "attestations": _attestations(self.repo, release.tag),
        }

    def manifest_at(self, commit: pygit2.Commit, label: str) -> Manifest | None:
        """The manifest the verification already parsed (and validated in full); None when invalid."""
        try:
            return self.context.manifest_at(commit, label)
        except ManifestError:
            return None

    def _contents(self, release: Release, releases: Mapping[str, Release]) -> dict[str, Any]:
        commit = self.repo.git.get(release.commit)
        m = self.manifest_at(commit.peel(pygit2.Commit), release.tag) if commit is not None else None
        if commit is None or m is None:
            return {
                "manifest_text": None,
                "components": {},
                "pins": [],
                "change": None,
                "evaluation": None,
                "lineage": None,
            }
        tree = CommitTree(self.repo.git, commit.peel(pygit2.Commit), release.tag)
        graph = lineage.build(
            tree,
            m,
            tag=release.tag,
            version_digest=release.digest,
            state=release.state,
            commit=release.commit,
        )
        return {
            "manifest_text": m.text,  # as released: the TOML the user wrote, comments and all
            "components": _plain({k: v for k, v in m.data.items() if k not in NON_COMPONENTS}),
            "pins": [
                {"ref": r.dotted, "kind": r.kind, "target": r.target, "field": r.pin_field, "pin": r.pin}
                for r in m.refs
            ],
            "change": self._change(release, m, releases),
            "evaluation": _evaluation(tree, m),
            "lineage": graph.as_json(),
        }

    def _change(
        self,
        release: Release,
        m: Manifest,
        releases: Mapping[str, Release],
    ) -> dict[str, Any] | None:
        before: Manifest | None = None
        previous = releases.get(release.previous or "")
        if previous is not None:
            commit = self.repo.git.get(previous.commit)
            if commit is not None:
                before = self.manifest_at(commit.peel(pygit2.Commit), previous.tag)
        if release.previous and before is None:
            return {"from": release.previous, "bump": release.bump, "computed": None, "changes": []}
        changes = diff(before.data if before else None, m.data, policy_overrides(m.data))
        return {
            "from": release.previous,
            "bump": release.bump,
            "computed": bump_level(changes) if before else "initial",
            "changes": [_plain(c.as_json()) for c in changes],
        }


def _recorded_objects(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Tag -> every tag object the ledger recorded for it -> the first event that did."""
    found: dict[str, dict[str, int]] = {}

    def note(tag: Any, obj: Any, seq: int) -> None:
        if isinstance(tag, str) and isinstance(obj, str):
            found.setdefault(tag, {}).setdefault(obj, seq)

    for event in events:
        seq = int(event.get("seq") or 0)
        for tag, entry in (event.get("versions") or {}).items():
            if isinstance(entry, Mapping):
                note(tag, entry.get("tag_object"), seq)
        note(event.get("version"), event.get("tag_object"), seq)
    return found


def _served(served: timeline.Served, total: float) -> dict[str, Any]:
    return {
        "intervals": served.intervals,
        "first": served.intervals[0]["from"],
        "last": served.intervals[-1]["to"],
        "traffic_time_percent": round(served.weighted / total, 4) if total > 0 else 0.0,
    }


def _missing(tag: str, name: str, served: dict[str, Any]) -> dict[str, Any]:
    check = {
        "name": "tag-object",
        "ok": False,
        "detail": f"{tag} served here but is no tag in this repository: `git fetch --tags` and audit again",
    }
    return {
        "tag": tag,
        "system": name or None,
        "version": None,
        "commit": None,
        "tag_object": None,
        "digest": None,
        "state": None,
        "bump": None,
        "previous": None,
        "released_at": None,
        "tagger": None,
        "signature": signature.UNSIGNED.as_json(),
        "verification": {"ok": False, "checks": [check]},
        "served": served,
        "manifest_text": None,
        "components": {},
        "pins": [],
        "change": None,
        "evaluation": None,
        "decisions": [],
        "lineage": None,
    }


def _evaluation(tree: CommitTree, m: Manifest) -> dict[str, Any] | None:
    results = evaluation.load_results(tree, m.data, m.base)
    if results is None:
        return None
    gates = evaluation.check_gates(evaluation.gates_of(m.data), results.metrics)
    return {
        "path": results.path,
        "subject": results.subject,
        "bound": results.subject == digest.state_digest(m.data),
        "metrics": results.metrics,
        "created_at": results.data.get("created_at"),
        "problems": results.problems,
        "gates": [{"metric": g.metric, "rule": g.rule, "value": g.value, "ok": g.ok} for g in gates],
    }


def _plain(value: Any) -> Any:
    import json

    return json.loads(digest.canonical_json(value))


def _attestations(repo: Repo, tag: str) -> list[dict[str, str]]:
    """Who attested the version (OMS signatures on the attestations branch), as each signature names its
    signer; ``verify --require-attestation`` checks them against the configured trust."""
    from gitmodelver.attest import branch
    from gitmodelver.attest.statement import signer_hint

    return [{"path": s.path, "signer": signer_hint(s.bundle)} for s in branch.of_version(repo, tag)]
