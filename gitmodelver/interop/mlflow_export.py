"""``export mlflow``: the releases, their prompts and the ledger's environments, gathered from Git and
handed to the registry (``mlflow_plan`` says what it should hold, ``mlflow_registry`` makes it so)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.core.filerefs import follow, join, ref_kind
from gitmodelver.deploy import deployments
from gitmodelver.deploy.ledger import Ledger
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import signature, system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import CommitTree
from gitmodelver.interop import mlflow_plan
from gitmodelver.interop.mlflow_registry import Changes, Registry
from gitmodelver.release import plan


@dataclass(frozen=True)
class Report:
    uri: str
    model: str
    releases: list[str]
    aliases: dict[str, str]
    changes: Changes

    def as_json(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.uri,
            "model": self.model,
            "releases": self.releases,
            "aliases": self.aliases,
            "registered": self.changes.versions,
            "prompts": self.changes.prompts,
            "tags": self.changes.tags,
            "moved": self.changes.aliases,
            "changed": bool(
                self.changes.versions or self.changes.prompts or self.changes.tags or self.changes.aliases
            ),
        }

    def lines(self) -> list[str]:
        done = self.changes
        out = [f"{self.model} in {self.uri}: {len(self.releases)} releases, {len(done.versions)} new"]
        out += [f"  registered {tag}" for tag in done.versions]
        out += [f"  prompt {uri}" for uri in done.prompts]
        out += [f"  tag {what}" for what in done.tags]
        out += [f"  alias {what}" for what in done.aliases]
        if not (done.versions or done.prompts or done.tags or done.aliases):
            out.append("  nothing changed: the registry already holds every release and environment")
        return out


def _prompts(
    tree: CommitTree, data: Mapping[str, Any], base: str, model: str
) -> list[mlflow_plan.PromptSpec]:
    """Each prompt as the release holds it: the text of the blob its pin names."""
    found = []
    table = data.get("prompts")
    for key, ref in table.items() if isinstance(table, Mapping) else []:
        if not isinstance(ref, Mapping) or ref_kind(ref) != "path":
            continue
        followed = follow(tree, join(base, ref["path"]))
        raw = tree.read(followed.path) if followed.problem is None else None
        if raw is None:
            continue  # `verify` reports a release whose prompt is missing; there is nothing to register
        text = raw.decode("utf-8", errors="replace")
        pinned = ref.get("sha256")
        sha = pinned if isinstance(pinned, str) else hashlib.sha256(raw).hexdigest()
        found.append(mlflow_plan.PromptSpec(str(key), mlflow_plan.prompt_name(model, str(key)), text, sha))
    return found


def spec_of(
    repo: Repo, sys_: system.System, release: versions.Release, sig: signature.Signature, model: str
) -> mlflow_plan.VersionSpec:
    data = plan.released_data(repo, release, sys_)
    tree = repo.commit_tree(repo.commit(release.commit), release.tag)
    facts = {
        "tag": release.tag,
        "version": str(release.version),
        "system": release.name,
        "state": release.state,
        "digest": release.digest,
        "commit": release.commit,
        "level": release.bump,
        "signer": sig.signer,
        "verified": sig.verified,
    }
    return mlflow_plan.VersionSpec(
        tag=release.tag,
        tags=mlflow_plan.version_tags(facts),
        description=mlflow_plan.description(release.message),
        prompts=_prompts(tree, data, sys_.base, model),
        weights=mlflow_plan.weights_of(data),
    )


def weights_folder(
    repo: Repo, sys_: system.System, release: versions.Release, folder: Path, remote: str | None
) -> Path | None:
    """The release's DVC-tracked files in ``folder`` at their paths in the repository, copied from the DVC
    cache (pulled from ``remote`` when it lacks them, each download checked against its md5); None when
    the release tracks none."""
    from gitmodelver.dvc import dvcops
    from gitmodelver.release.verify import manifest_of

    commit = repo.commit(release.commit)
    m = manifest_of(repo, sys_, commit, release.tag)
    if m is None:
        return None
    outs, unresolved = dvcops.outputs(repo.commit_tree(commit, release.tag), m)
    if unresolved:
        raise UsageError(f"{release.tag}: {unresolved[0]} (`git modelver verify {release.tag}` says more)")
    if not outs:
        return None
    store = dvcops.Store.open(repo.root)
    for obj in dvcops.ensure(store, outs, remote):
        if obj.is_dir:
            continue  # a folder's listing: its files are objects of their own
        dest = folder / obj.path / obj.relpath if obj.relpath else folder / obj.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.path(obj), dest)
    return folder


def export(
    repo: Repo,
    sys_: system.System,
    book: Ledger | Any,
    uri: str,
    model: str | None = None,
    artifact_location: str | None = None,
    *,
    copy_weights: bool = False,
    dvc_remote: str | None = None,
) -> Report:
    releases = sorted(versions.list_releases(repo, sys_.name), key=lambda r: r.version)
    if not releases:
        raise UsageError(f"{sys_.name} has no releases to export yet (make one with `git modelver release`)")
    name = model or sys_.name
    sigs = signature.verify_cached(repo, releases)
    registry = Registry(uri, name, artifact_location)
    registry.ensure_model(f"{sys_.name}, versioned by gitmodelver: one model version per release")
    have = registry.versions()
    for release in releases:
        spec = spec_of(repo, sys_, release, sigs[release.tag], name)
        if release.tag in have:
            registry.sync_tags(have[release.tag], spec.tags)
        elif copy_weights:
            with tempfile.TemporaryDirectory(prefix="modelver-weights-") as folder:
                laid = weights_folder(repo, sys_, release, Path(folder), dvc_remote)
                registry.add_version(spec, laid)
        else:
            registry.add_version(spec)
    have = registry.versions()
    tip = book.tip()
    states = {env: deployments.summary(book.last(env, tip)) for env in book.envs()}
    wanted = mlflow_plan.aliases(states, have)
    registry.sync_aliases(wanted, have)
    return Report(uri, name, [r.tag for r in releases], wanted, registry.changes)
