"""Making a release: lock pins, write the version, commit and tag, atomically (SPEC §4, §5)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver import digest, evaluation, manifest, mutex, signature, tagmsg
from gitmodelver.diff import diff
from gitmodelver.errors import CheckFailed, Conflict, UsageError
from gitmodelver.plan import Plan
from gitmodelver.repo import Repo
from gitmodelver.system import Snapshot
from gitmodelver.versions import Release


@dataclass(frozen=True)
class Outcome:
    tag: str
    version: str
    bump: str
    commit: str
    digest: str
    state: str
    signed: bool
    recovered: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "version": self.version,
            "bump": self.bump,
            "commit": self.commit,
            "digest": self.digest,
            "state": self.state,
            "signed": self.signed,
        }


def check_clean(repo: Repo, snap: Snapshot, file: str) -> None:
    """Refuse a dirty tree, except the pins and version this release writes itself."""
    status = repo.run("status", "--porcelain=v1", "-z", "--untracked-files=no").out
    dirty = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    others = [p for p in dirty if p != file]
    if others:
        shown = ", ".join(others[:5]) + (" …" if len(others) > 5 else "")
        raise UsageError(f"uncommitted changes in {shown}", fix="commit or stash them, then release")
    if file not in repo.git.index:
        raise UsageError(f"{file} is not committed", fix=f"git add {file} && git commit")
    head = repo.head()
    committed = manifest.load_tree(repo.commit_tree(head, "HEAD"), file) if head else None
    if committed is not None and file in dirty and _beyond_pins(committed.data, snap.data):
        raise UsageError(f"{file} has uncommitted edits", fix=f"commit {file} first (`git commit {file}`)")
    untracked = [p.repo_path for p in snap.pins if p.ref.kind == "path" and p.repo_path not in repo.git.index]
    if untracked:
        raise UsageError(
            f"{untracked[0]} is referenced by the manifest but not committed",
            fix=f"git add {untracked[0]} && git commit",
        )


def _beyond_pins(committed: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    ignore = {"system.version"}
    for change in diff(committed, current):
        leaf = change.path.rsplit(".", 1)[-1]
        if change.path not in ignore and leaf not in ("sha256", "md5"):
            return True
    return False


def check_missing(snap: Snapshot) -> None:
    if snap.missing:
        pin = snap.missing[0]
        what = "file" if pin.ref.kind == "path" else "DVC output"
        raise UsageError(
            f"{snap.manifest.file}: {pin.ref.dotted} names {pin.repo_path}, no such {what}",
            fix="fix the path or add the file (`dvc add` for weights)",
        )


def check_evaluation(snap: Snapshot) -> list[str]:
    """Refuse stale or failing results; return notes for what was checked."""
    data = snap.data
    require = bool(snap.manifest.policy.get("require_eval"))
    results = evaluation.load_results(snap.tree, data, snap.manifest.base)
    gates = evaluation.gates_of(data)
    if results is None:
        if require:
            raise CheckFailed(
                "policy.require_eval is on but [evaluation] names no results file",
                fix='add evaluation.results = { path = "evals/results.json" }',
            )
        return []
    if results.problems:
        raise CheckFailed(results.problems[0], fix="re-run the evaluation")
    state = snap.state
    if results.subject != state:
        message = (
            f"{results.path}: results are for {digest.short(results.subject)}, not the current state "
            f"{digest.short(state)}"
        )
        if require:
            raise CheckFailed(message, fix="re-run the evaluation and stamp it with `git modelver digest`")
        return [f"warning: {message}"]
    failed = [g for g in evaluation.check_gates(gates, results.metrics) if not g.ok]
    if failed:
        raise CheckFailed(
            f"{results.path}: gate failed: " + "; ".join(g.describe() for g in failed),
            fix="improve the system or change evaluation.gates",
        )
    return [f"evaluation: {len(gates)} gate(s) passed for {digest.short(state)}"] if gates else []


def decide_signing(repo: Repo, snap: Snapshot, sign: bool | None) -> bool:
    required = bool(snap.manifest.policy.get("require_signed"))
    if sign is False and required:
        raise UsageError("policy.require_signed is on: an unsigned release is refused", fix="drop --no-sign")
    if sign is None:
        return required or repo.config_bool("tag.gpgSign")
    return sign


def final_manifest(snap: Snapshot, version: str) -> str:
    pins = {(*p.ref.key, p.ref.pin_field): p.actual for p in snap.pins if p.actual and p.ref.pin != p.actual}
    return manifest.edit(snap.manifest.text, pins, version)


def _tree_with(repo: Repo, base: pygit2.Commit | None, path: str, blob: pygit2.Oid) -> pygit2.Oid:
    index = pygit2.Index()
    if base is not None:
        index.read_tree(base.tree)
    index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
    return index.write_tree(repo.git)


def build_commit(repo: Repo, plan: Plan, text: str, message: str) -> str:
    head = repo.head()
    blob = repo.git.create_blob(text.encode("utf-8"))
    tree = _tree_with(repo, head, plan.system.file, blob)
    args = ["commit-tree", str(tree)]
    if head is not None:
        args += ["-p", str(head.id)]
    if repo.config_bool("commit.gpgSign"):
        args.append("-S")
    return repo.run(*args, stdin=message.encode("utf-8")).out.strip()


def write_worktree(repo: Repo, file: str, text: str) -> None:
    """Write the manifest and stage exactly that blob, so the tree matches the release commit."""
    path = repo.root / file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, "utf-8", newline="")
    os.replace(tmp, path)
    blob = repo.git.create_blob(text.encode("utf-8"))
    repo.run("update-index", "--cacheinfo", f"100644,{blob},{file}")


def _tag_message(plan: Plan, snap_data: Mapping[str, Any], user_message: str | None) -> str:
    trailers = {
        "Modelver-Digest": digest.version_digest(snap_data),
        "Modelver-State": digest.state_digest(snap_data),
        "Modelver-Bump": plan.level or "initial",
    }
    if plan.last is not None:
        trailers["Modelver-Previous"] = plan.last.tag
    # A first release "adds" everything; how we release (system, policy) is no news there.
    changes = plan.changes if plan.last is not None else [c for c in plan.changes if c.level != "none"]
    return tagmsg.compose(
        plan.system.name, str(plan.next), plan.level or "initial", changes, trailers, user_message
    )


def _create_tag(repo: Repo, tag: str, commit: str, message: str, sign: bool) -> str:
    args = ["tag", "-s" if sign else "--no-sign", "-a", "--cleanup=verbatim", "-F", "-", tag, commit]
    result = repo.run(*args, stdin=message.encode("utf-8"), check=False)
    if result.returncode != 0:
        if "already exists" in result.err:
            raise Conflict(f"tag {tag} already exists", fix="run `git fetch --tags` and release again")
        detail = result.err.strip().splitlines()[-1] if result.err.strip() else "git tag failed"
        if sign:
            raise UsageError(
                f"signing {tag} failed: {detail}",
                fix="set user.signingkey (and gpg.format=ssh for SSH keys), or use --no-sign",
            )
        raise UsageError(f"creating {tag} failed: {detail}")
    oid = repo.run("rev-parse", f"refs/tags/{tag}").out.strip()
    if sign and not _tag_is_signed(repo, oid):
        # Some git versions write an unsigned tag and exit 0 when the signing program fails.
        _delete_tag(repo, tag, oid)
        detail = result.err.strip().splitlines()[-1] if result.err.strip() else "the signing program failed"
        raise UsageError(
            f"signing {tag} failed: {detail}",
            fix="check user.signingkey and gpg.format (`git tag -s test` shows the error)",
        )
    return oid


def _tag_is_signed(repo: Repo, oid: str) -> bool:
    obj = repo.git.get(oid)
    return isinstance(obj, pygit2.Tag) and tagmsg.is_signed(obj.message or "")


def _delete_tag(repo: Repo, tag: str, oid: str) -> None:
    repo.run("update-ref", "-d", f"refs/tags/{tag}", oid, check=False)


def _cas_head(repo: Repo, ref: str, new: str, old: pygit2.Oid | None, message: str) -> bool:
    args = ["update-ref", "-m", message]
    if ref == "HEAD":
        args.append("--no-deref")
    args += [ref, new, str(old) if old is not None else "0" * 40]
    return repo.run(*args, check=False).returncode == 0


def _interrupted(repo: Repo, plan: Plan, sign: bool) -> str | None:
    """The commit of an earlier run of this same release that died after tagging, if there is one."""
    tag = plan.tag
    assert tag is not None
    try:
        commit = repo.git.revparse_single(f"refs/tags/{tag}").peel(pygit2.Commit)
    except KeyError:
        return None
    if plan.head is None or list(commit.parent_ids) != [plan.head]:
        raise Conflict(f"tag {tag} already exists", fix="run `git fetch --tags` and `git modelver status`")
    m = manifest.load_tree(repo.commit_tree(commit, tag), plan.system.file)
    if m is None or m.version != str(plan.next):
        raise Conflict(f"tag {tag} already exists", fix="run `git fetch --tags` and `git modelver status`")
    oid = repo.run("rev-parse", f"refs/tags/{tag}").out.strip()
    if sign and not _tag_is_signed(repo, oid):
        _delete_tag(repo, tag, oid)  # ours, left unsigned by a signing that died: sign it anew
    return str(commit.id)


def execute(repo: Repo, plan: Plan, *, message: str | None = None, sign: bool | None = None) -> Outcome:
    """Commit and tag ``plan``; on any failure the repository is left as it was."""
    assert plan.next is not None and plan.tag is not None
    snap = plan.snapshot
    check_clean(repo, snap, plan.system.file)
    check_missing(snap)
    do_sign = decide_signing(repo, snap, sign)
    text = final_manifest(snap, str(plan.next))
    released = manifest.parse(text, plan.system.file)
    data = released.data
    tag_message = _tag_message(plan, data, message)
    original = (repo.root / plan.system.file).read_text("utf-8")
    with mutex.held(repo.state_dir() / "release.lock", "release"):
        head = repo.head()
        if (head.id if head else None) != plan.head:
            raise Conflict("HEAD moved while the release was prepared", fix="run the release again")
        ref = repo.head_ref()
        recovered = _interrupted(repo, plan, do_sign)
        commit = recovered or build_commit(repo, plan, text, _commit_message(plan, message))
        write_worktree(repo, plan.system.file, text)
        try:
            existing = repo.run(
                "rev-parse", "-q", "--verify", f"refs/tags/{plan.tag}", check=False
            ).out.strip()
            tag_oid = existing or _create_tag(repo, plan.tag, commit, tag_message, do_sign)
            _check_signature(repo, plan, tag_oid, snap)
            if not _cas_head(repo, ref, commit, plan.head, f"modelver: release {plan.tag}"):
                _delete_tag(repo, plan.tag, tag_oid)
                raise Conflict(
                    f"{ref} moved during the release; nothing was changed", fix="run the release again"
                )
        except BaseException:
            write_worktree(repo, plan.system.file, original)
            raise
    return Outcome(
        plan.tag,
        str(plan.next),
        plan.level or "initial",
        commit,
        digest.version_digest(data),
        digest.state_digest(data),
        do_sign,
        recovered is not None,
    )


def _check_signature(repo: Repo, plan: Plan, tag_oid: str, snap: Snapshot) -> None:
    if not snap.manifest.policy.get("require_signed"):
        return
    assert plan.tag is not None and plan.next is not None
    obj = repo.git[pygit2.Oid(hex=tag_oid)]
    message = obj.message if isinstance(obj, pygit2.Tag) else ""
    release = Release(plan.tag, plan.system.name, plan.next, tag_oid, "", True, message or "")
    sig = signature.verify(repo, release)
    if not sig.verified:
        _delete_tag(repo, plan.tag, tag_oid)
        raise CheckFailed(
            f"{plan.tag}: {sig.detail}",
            fix="add your key to gpg.ssh.allowedSignersFile (or your GPG keyring) and release again",
        )


def _commit_message(plan: Plan, message: str | None) -> str:
    lines = [f"Release {plan.system.name} v{plan.next} ({plan.level or 'initial'})", ""]
    if message:
        lines += [message.strip(), ""]
    lines += [tagmsg.change_line(c) for c in plan.changes[: tagmsg.MAX_SUMMARY_LINES]]
    return "\n".join(lines).rstrip() + "\n"


def push(repo: Repo, remote: str, tag: str) -> None:
    """The version's DVC objects first, then branch and tag in one atomic push (see ``gitmodelver.push``)."""
    from gitmodelver import push as publish

    publish.push_release(repo, remote, tag)
