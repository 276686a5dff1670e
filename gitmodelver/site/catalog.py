"""What the site shows, gathered from the repository: the systems and their releases (each verified now,
as ``verify`` does), the ledger's environments, and for every version where and when it served.

This and ``facts`` are where the site reads Git; the page modules render what they are handed. Nothing a
tag claims about its history is believed: the release a version follows is derived from Git (as ``verify``
derives it), and the checks are re-run for this build (``verify`` keeps its verdicts by object id, so a
rebuild pays only for what is new).

The ledger is read in full only when its branch moved since the last build (or a page needs the events
themselves): what the pages' keys and the tables need of it is remembered under the branch's commit id,
which names every byte of the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.core.semver import parse_tag
from gitmodelver.deploy import ledger, timeline
from gitmodelver.errors import BrokenLedger, ManifestError, UsageError
from gitmodelver.gitstore import signature, system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import Release
from gitmodelver.release import verify

# The end of an interval still open: the version serves now. Later than any time the ledger can hold.
OPEN = "9999-12-31T23:59:59.999999Z"
RECENT = 15  # events the home page lists


@dataclass
class Environment:
    name: str
    events: list[dict[str, Any]]  # every event, oldest first
    problem: BrokenLedger | None = None  # the ledger's files break its rules: nothing of it is shown

    @property
    def now(self) -> dict[str, Any]:
        """What it serves now, as ``envs`` says it."""
        from gitmodelver.deploy import deployments  # the rollout machinery: only when the ledger is read

        last = self.events[-1] if self.events else None
        return deployments.summary(ledger.Event(last) if last is not None else None)


class Deployments:
    """What the ledger says about each version and environment, read once per ledger commit.

    ``remembered`` is what an earlier build kept (``kept()``); it stands for the ledger while the branch
    is at the same commit, and only the events themselves (a version's history, an environment's pages)
    send us to the ledger again.
    """

    def __init__(self, repo: Repo, remembered: Mapping[str, Any] | None = None) -> None:
        self.book = ledger.Ledger(repo)
        tip = self.book.tip()
        self.tip = str(tip) if tip is not None else None
        self.names = self.book.envs()
        usable = remembered is not None and remembered.get("tip") == self.tip and self.tip is not None
        self.remembered: Mapping[str, Any] | None = remembered if usable else None

    @functools.cached_property
    def environments(self) -> list[Environment]:
        return [self._read(env) for env in self.names]

    def _read(self, env: str) -> Environment:
        try:
            return Environment(env, [event.data for event in self.book.events(env)])
        except BrokenLedger as problem:
            return Environment(env, [], problem)

    @functools.cached_property
    def _by_tag(self) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, list[dict[str, Any]]]]:
        """Tag -> env -> the intervals it served at a constant share; tag -> the events about it."""
        served: dict[str, dict[str, list[dict[str, Any]]]] = {}
        about: dict[str, list[dict[str, Any]]] = {}
        for env in self.environments:
            if not env.events:
                continue
            cut = timeline.segments(env.events, str(env.events[0]["at"]), OPEN)
            for tag, found in timeline.served(cut).items():
                served.setdefault(tag, {})[env.name] = found.intervals
            for event in env.events:
                if isinstance(event.get("version"), str):
                    about.setdefault(event["version"], []).append({"env": env.name, **event})
        return served, about

    def served(self, tag: str) -> dict[str, list[dict[str, Any]]]:
        if self.history_key(tag) is None:  # the ledger never named it: nothing to read
            return {}
        return self._by_tag[0].get(tag, {})

    def decisions(self, tag: str) -> list[dict[str, Any]]:
        if self.history_key(tag) is None:
            return []
        return self._by_tag[1].get(tag, [])

    @functools.cached_property
    def _places(self) -> dict[str, dict[str, Any]]:
        """Tag -> {"envs": env -> its share now (0: served there before), "key": a digest of its history}."""
        if self.remembered is not None:
            return dict(self.remembered["tags"])
        found = {}
        served_by, about = self._by_tag
        for tag in {*served_by, *about}:
            served = served_by.get(tag, {})
            history = [(e["env"], e["seq"], e["at"]) for e in about.get(tag, [])]
            text = json.dumps([served, history], sort_keys=True, separators=(",", ":"))
            envs = {env: (iv[-1]["share"] if iv[-1]["to"] == OPEN else 0) for env, iv in served.items()}
            found[tag] = {"envs": envs, "key": hashlib.sha256(text.encode()).hexdigest()[:24]}
        return found

    def places(self, tag: str) -> dict[str, float]:
        return (self._places.get(tag) or {}).get("envs") or {}

    def history_key(self, tag: str) -> str | None:
        return (self._places.get(tag) or {}).get("key")

    @functools.cached_property
    def states(self) -> dict[str, dict[str, Any]]:
        """Env -> what serves now, its count of events, and its problem (None when sound)."""
        if self.remembered is not None:
            return dict(self.remembered["envs"])
        return {
            e.name: {
                "now": e.now,
                "count": len(e.events),
                "problem": None if e.problem is None else e.problem.message,
            }
            for e in self.environments
        }

    @functools.cached_property
    def recent(self) -> list[dict[str, Any]]:
        """The latest events of all environments, newest first, each with its env."""
        if self.remembered is not None:
            return list(self.remembered["recent"])
        found = [{"env": e.name, **ev} for e in self.environments for ev in e.events[-RECENT:]]
        return sorted(found, key=lambda ev: str(ev["at"]), reverse=True)[:RECENT]

    @property
    def problems(self) -> list[BrokenLedger]:
        if self.remembered is not None and not any(s["problem"] for s in self.states.values()):
            return []
        return [e.problem for e in self.environments if e.problem is not None]

    def kept(self) -> dict[str, Any] | None:
        """What the next build may take for the ledger while the branch stays where it is."""
        if self.tip is None or self.problems:
            return None
        return {"tip": self.tip, "tags": self._places, "envs": self.states, "recent": self.recent}


@dataclass
class Version:
    """One release as the site shows it: the tag's facts, its verification now, and its deployments."""

    release: Release
    signature: signature.Signature
    checks: list[dict[str, Any]]
    previous: Release | None  # the release it follows, derived from Git
    ledger: Deployments

    @property
    def tag(self) -> str:
        return self.release.tag

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    @functools.cached_property
    def places(self) -> dict[str, float]:
        """Every environment it served in -> the share it serves there now (0: not any more)."""
        return self.ledger.places(self.tag)

    @functools.cached_property
    def serving(self) -> dict[str, float]:
        return {env: share for env, share in self.places.items() if share > 0}

    @property
    def served(self) -> dict[str, list[dict[str, Any]]]:
        """Env -> the intervals it served there (reads the ledger)."""
        return self.ledger.served(self.tag)

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The ledger's events about it, each with its env (reads the ledger)."""
        return self.ledger.decisions(self.tag)


@dataclass
class SystemVersions:
    system: system.System
    versions: list[Version]  # highest first

    @property
    def name(self) -> str:
        return self.system.name


@dataclass
class Catalog:
    repo: Repo
    systems: list[SystemVersions]
    ledger: Deployments
    generated_at: str

    def versions(self) -> list[Version]:
        return [v for s in self.systems for v in s.versions]

    def by_tag(self) -> dict[str, Version]:
        return {v.tag: v for v in self.versions()}

    @property
    def environments(self) -> list[str]:
        return self.ledger.names

    @property
    def problems(self) -> list[BrokenLedger]:
        return self.ledger.problems


def gather(repo: Repo, remembered: Mapping[str, Any] | None = None, only: str | None = None) -> Catalog:
    """Everything the site shows; ``only``: the one system to show (``--system``)."""
    book = Deployments(repo, remembered)
    found = sorted(systems_of(repo), key=lambda s: s.name)
    if only is not None:
        chosen = [s for s in found if s.name == only]
        if not chosen:
            known = ", ".join(s.name for s in found) or "none"
            raise UsageError(f"no system '{only}' here (systems: {known})")
        found = chosen
    systems = [_system_versions(repo, sys_, book) for sys_ in found]
    return Catalog(repo, systems, book, ledger.now())


def systems_of(repo: Repo) -> list[system.System]:
    """The systems with a manifest here, and those only version tags name (their manifest is gone)."""
    try:
        found = {s.name: s for s in system.discover(repo)}
    except ManifestError:
        found = {}
    for name in sorted(_tagged_names(repo) - set(found)):
        releases = versions.list_releases(repo, name)
        if not releases:
            continue
        try:
            found[name] = system.of_release(repo, name, repo.commit(releases[0].commit), releases[0].tag)
        except ManifestError:
            found[name] = system.System(name, "modelver.toml")
    return list(found.values())


def _tagged_names(repo: Repo) -> set[str]:
    names = set()
    for ref in repo.git.references.iterator():
        if ref.name.startswith(versions.TAG_PREFIX):
            parsed = parse_tag(ref.name[len(versions.TAG_PREFIX) :])
            if parsed is not None:
                names.add(parsed[0])
    return names


def _system_versions(repo: Repo, sys_: system.System, book: Deployments) -> SystemVersions:
    releases = versions.list_releases(repo, sys_.name)
    if not releases:
        return SystemVersions(sys_, [])
    sigs = signature.verify_cached(repo, releases)
    reports = {r.tag: r for r in verify.verify_releases(repo, sys_, releases, complete=True)}
    history = verify.Context(repo, sys_, signatures=sigs, listed=releases)
    found = [
        Version(
            release,
            sigs.get(release.tag, signature.UNSIGNED),
            [c.as_json() for c in reports[release.tag].checks],
            history.previous(release),
            book,
        )
        for release in releases
    ]
    return SystemVersions(sys_, found)
