"""Making a release: lock pins, write the version, commit and tag, atomically (SPEC §4, §5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pygit2

from gitmodelver.core import digest, evaluation, manifest, pins
from gitmodelver.errors import CheckFailed, Conflict, UsageError
from gitmodelver.gitstore import fsutil, mutex, signature, tagmsg
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import Snapshot
from gitmodelver.gitstore.tree import GitFilters
from gitmodelver.gitstore.versions import Release
from gitmodelver.release.plan import Plan, beyond_pins, interrupted


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
    committed = _committed(repo, file)
    if committed is not None and file in dirty and beyond_pins(committed.data, snap.data):
        raise UsageError(f"{file} has uncommitted edits", fix=f"commit {file} first (`git commit {file}`)")
    # A symlinked prompt is its target: both the link and the file it leads to must be committed.
    referenced = [
        f for p in snap.pins if p.ref.kind in ("path", "params") for f in (p.repo_path, p.file) if f
    ]
    untracked = [f for f in dict.fromkeys(referenced) if f not in repo.git.index]
    if untracked:
        raise UsageError(
            f"{untracked[0]} is referenced by the manifest but not committed",
            fix=f"git add {untracked[0]} && git commit",
        )


def _committed(repo: Repo, file: str) -> manifest.Manifest | None:
    head = repo.head()
    return manifest.load_tree(repo.commit_tree(head, "HEAD"), file, trusted=True) if head else None


def check_missing(snap: Snapshot) -> None:
    if snap.missing:
        raise UsageError(pins.missing_message(snap.manifest.file, snap.missing[0]), fix=pins.MISSING_FIX)


def check_version(repo: Repo, plan: Plan) -> None:
    """Refuse a version HEAD's manifest already claims: the release commit would then change nothing,
    and verify would find the version written before its tag (a moved tag)."""
    committed = _committed(repo, plan.system.file)
    if committed is not None and committed.version == str(plan.next):
        raise UsageError(
            f'{plan.system.file} already says version = "{plan.next}"; release writes it',
            fix="delete the version line and commit",
        )


STALE_FIX = 'dvc repro && git modelver lock && git add -A && git commit -m "Reproduce the pipeline"'


def check_pipeline(plan: Plan, allow_stale: bool) -> list[str]:
    """Refuse a release whose dvc.lock no longer matches the tree (``dvc repro`` was not run), unless
    ``allow_stale``: then the stale stages are returned, to be recorded in the tag message."""
    if not plan.stale:
        return []
    lines = [str(s) for s in plan.stale]
    if not allow_stale:
        raise CheckFailed(
            f"the pipeline is stale, {len(lines)} stage(s): " + " | ".join(lines),
            fix=STALE_FIX,
        )
    return lines


def check_obstacles(plan: Plan) -> None:
    """The next version's tag taken outside HEAD's history: exit 3, saying where it is."""
    if plan.taken is not None:
        raise Conflict(plan.taken.message, fix=plan.taken.fix)


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


def _tree_with(repo: Repo, base: pygit2.Commit | None, path: str, blob: pygit2.Oid) -> pygit2.Oid:
    index = pygit2.Index()
    if base is not None:
        index.read_tree(base.tree)
    index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
    return index.write_tree(repo.git)


def build_commit(repo: Repo, plan: Plan, text: str, message: str) -> str:
    """The release commit over HEAD, its manifest stored as `git add` would store ``text``."""
    head = repo.head()
    file = plan.system.file
    blob = repo.git.create_blob(GitFilters(repo.root).clean(file, text.encode("utf-8")))
    tree = _tree_with(repo, head, file, blob)
    args = ["commit-tree", str(tree)]
    if head is not None:
        args += ["-p", str(head.id)]
    sign = repo.config_bool("commit.gpgSign")
    if sign:
        args.append("-S")
    result = repo.run(*args, stdin=message.encode("utf-8"), check=not sign)
    if result.returncode != 0:
        raise UsageError(
            f"signing the release commit failed (commit.gpgSign is on): {_last_line(result.err)}",
            fix="check user.signingkey and gpg.format (`git commit --allow-empty -S -m test` shows the "
            "error), or turn it off: `git config commit.gpgSign false`",
        )
    return result.out.strip()


def _last_line(err: str, default: str = "the signing program failed") -> str:
    """git's last word on a failure; a failing signing program leaves only a bare "error:"."""
    lines = [line.strip().removeprefix("error:").strip() for line in err.splitlines()]
    return next((line for line in reversed(lines) if line), default)


def sync_worktree(repo: Repo, file: str, text: str, commit: str) -> None:
    """Once the branch has moved: the index entry, then the file, as the release commit holds them.

    Nothing is written before, so a release that fails leaves the working tree alone. A crash between
    the two steps leaves the file behind HEAD, which ``plan`` recognizes and `git checkout HEAD -- FILE`
    repairs.
    """
    entry = repo.commit(commit).tree[file]
    stored = repo.git[entry.id]
    assert isinstance(stored, pygit2.Blob)
    repo.run("update-index", "--cacheinfo", f"100644,{entry.id},{file}")
    filters = GitFilters(repo.root)
    data = text.encode("utf-8")
    if filters.clean(file, data) != stored.data:  # an interrupted release's commit: write what it holds
        data = filters.smudge(file, stored.data)
    fsutil.atomic_write(repo.root / file, data)


def _tag_message(
    plan: Plan, snap_data: Mapping[str, Any], user_message: str | None, stale: list[str] | None = None
) -> str:
    trailers = {
        "Modelver-Digest": digest.version_digest(snap_data),
        "Modelver-State": digest.state_digest(snap_data),
        "Modelver-Bump": plan.level or "initial",
    }
    if plan.last is not None:
        trailers["Modelver-Previous"] = plan.last.tag
    if stale:
        trailers["Modelver-Stale"] = ", ".join(s.stage for s in plan.stale)
        shipped = "Shipped with a stale pipeline (--allow-stale): " + "; ".join(stale)
        user_message = f"{user_message.strip()}\n\n{shipped}" if user_message else shipped
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
        detail = _last_line(result.err, "git tag failed")
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
        detail = _last_line(result.err)
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
    if not interrupted(repo, plan, commit):
        raise Conflict(f"tag {tag} already exists", fix="run `git fetch --tags` and `git modelver status`")
    oid = repo.run("rev-parse", f"refs/tags/{tag}").out.strip()
    if sign and not _tag_is_signed(repo, oid):
        _delete_tag(repo, tag, oid)  # ours, left unsigned by a signing that died: sign it anew
    return str(commit.id)


def check_message(message: str | None) -> None:
    """Refuse ``-m`` text that git or a reader would take for trailers or a signature block."""
    found = tagmsg.confusing_line(message or "")
    if found is not None:
        number, line = found
        raise UsageError(
            f"release -m: line {number} ({line[:40]!r}) would read as a Modelver trailer or a signature "
            "block in the tag message",
            fix="reword that line (trailers and signatures are written by release itself)",
        )


def execute(
    repo: Repo, plan: Plan, *, message: str | None = None, sign: bool | None = None, allow_stale: bool = False
) -> Outcome:
    """Commit and tag ``plan``; on any failure the repository is left as it was."""
    assert plan.next is not None and plan.tag is not None
    check_message(message)
    stale = check_pipeline(plan, allow_stale)
    snap = plan.snapshot
    check_obstacles(plan)
    check_clean(repo, snap, plan.system.file)
    check_missing(snap)
    check_version(repo, plan)
    do_sign = decide_signing(repo, snap, sign)
    text = snap.locked_text(str(plan.next))
    data = manifest.parse(text, plan.system.file).data
    tag_message = _tag_message(plan, data, message, stale)
    with mutex.held(repo.state_dir() / "release.lock", "release"):
        head = repo.head()
        if (head.id if head else None) != plan.head:
            raise Conflict("HEAD moved while the release was prepared", fix="run the release again")
        ref = repo.head_ref()
        recovered = _interrupted(repo, plan, do_sign)
        commit = recovered or build_commit(repo, plan, text, _commit_message(plan, message))
        existing = repo.run("rev-parse", "-q", "--verify", f"refs/tags/{plan.tag}", check=False).out.strip()
        tag_oid = existing or _create_tag(repo, plan.tag, commit, tag_message, do_sign)
        _check_signature(repo, plan, tag_oid, snap)
        if not _cas_head(repo, ref, commit, plan.head, f"modelver: release {plan.tag}"):
            _delete_tag(repo, plan.tag, tag_oid)
            raise Conflict(
                f"{ref} moved during the release; nothing was changed", fix="run the release again"
            )
        sync_worktree(repo, plan.system.file, text, commit)
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
