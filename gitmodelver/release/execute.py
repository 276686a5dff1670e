"""Making a release: lock pins, write the version, commit and tag, atomically (SPEC §4, §5)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitmodelver import advice
from gitmodelver.core import digest, evaluation, manifest, pins
from gitmodelver.errors import CheckFailed, Conflict, UsageError
from gitmodelver.gitstore import fsutil, mutex, released, signature, system, tagmsg
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
        raise UsageError(f"uncommitted changes in {shown}: commit or stash them, then release")
    if file not in repo.git.index:
        raise UsageError(f"{file} is not committed", fix=_commit_fix(file, f"Add {file}", add=True))
    committed = _committed(repo, file)
    if committed is not None and file in dirty and beyond_pins(committed.data, snap.data):
        raise UsageError(f"{file} has uncommitted edits", fix=_commit_fix(file, f"Update {file}"))
    # A symlinked prompt is its target: both the link and the file it leads to must be committed.
    referenced = [
        f for p in snap.pins if p.ref.kind in ("path", "params") for f in (p.repo_path, p.file) if f
    ]
    untracked = [f for f in dict.fromkeys(referenced) if f not in repo.git.index]
    if untracked:
        raise UsageError(
            f"{untracked[0]} is referenced by the manifest but not committed",
            fix=_commit_fix(untracked[0], f"Add {untracked[0]}", add=True),
        )


def _commit_fix(file: str, message: str, *, add: bool = False) -> str:
    """Commit ``file`` alone (with a message: a bare `git commit` would wait for an editor)."""
    commit = advice.command("git", "commit", "-q", "-m", message, "--", file)
    return advice.chain(advice.command("git", "add", file), commit) if add else commit


def _modelver(repo: Repo, plan: Plan, *args: str) -> str:
    """A `git modelver` command for the plan's system, named when the repository holds several."""
    several = len(system.discover(repo)) > 1
    return advice.modelver(*args, system=plan.system.name if several else None)


def _committed(repo: Repo, file: str) -> manifest.Manifest | None:
    head = repo.head()
    return manifest.load_tree(repo.commit_tree(head, "HEAD"), file, trusted=True) if head else None


def check_missing(repo: Repo, snap: Snapshot) -> None:
    if snap.missing:
        pin = snap.missing[0]
        head = repo.head()
        committed = head is not None and pin.repo_path in head.tree
        message, fix = pins.missing_help(snap.manifest.file, pin, committed)
        raise UsageError(message, fix=fix)


def check_version(repo: Repo, plan: Plan) -> None:
    """Refuse a version HEAD's manifest already claims: the release commit would then change nothing,
    and verify would find the version written before its tag (a moved tag)."""
    file = plan.system.file
    committed = _committed(repo, file)
    if committed is None or committed.version != str(plan.next):
        return
    said = f'{file} already says version = "{plan.next}"; release writes it'
    if released.last_release(repo, plan.system.name) is None:  # `lock` keeps what HEAD says then
        raise UsageError(f"{said}: delete the version line from {file} and commit that")
    # `lock` puts a version written by hand back to the last release's.
    restore = _commit_fix(file, f"Restore the released system.version in {file}")
    raise UsageError(said, fix=advice.chain(_modelver(repo, plan, "lock"), restore))


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
    """Refuse results that do not certify this state (when required) or that fail the gates; return notes."""
    require = bool(snap.manifest.policy.get("require_eval"))
    found = evaluation.assess(snap.tree, snap.data, snap.manifest.base, snap.state)
    if found is None:
        if require:
            raise CheckFailed(
                "policy.require_eval is on but [evaluation] names no results file (nor DVC metrics): add "
                'evaluation.results = { path = "evals/results.json" } (or evaluation.metrics, a DVC '
                "metrics file) to the manifest"
            )
        return []
    if found.problems:
        if require:
            raise CheckFailed(found.problems[0] + ": re-run the evaluation")
        return [f"warning: {found.problems[0]} (policy.require_eval is off)"]
    if not found.bound:
        message = f"{found.path}: {found.binding}"
        if require:
            raise CheckFailed(
                f"{message}; re-run the evaluation (`dvc repro`, or stamp the results with "
                "`git modelver digest`)"
            )
        return [f"warning: {message}"]
    if found.failed:
        raise CheckFailed(
            f"{found.path}: gate failed: "
            + "; ".join(g.describe() for g in found.failed)
            + " (improve the system, or change evaluation.gates)"
        )
    return [f"evaluation: {len(found.gates)} gate(s) passed ({found.binding})"] if found.gates else []


def decide_signing(repo: Repo, snap: Snapshot, sign: bool | None) -> bool:
    required = bool(snap.manifest.policy.get("require_signed"))
    if sign is False and required:
        raise UsageError(
            f"policy.require_signed is on in {snap.manifest.file}: an unsigned release is refused; "
            "release without --no-sign"
        )
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
        todo, fix = signing_help(repo)
        off = advice.command("git", "config", "commit.gpgSign", "false")
        raise UsageError(
            f"signing the release commit failed (commit.gpgSign is on): {_last_line(result.err)}; {todo}"
            + ("" if fix else "; or stop signing commits"),
            fix=fix or off,
        )
    return result.out.strip()


# Where ssh-keygen puts a key by default, preferred first: a key there is one git can sign with.
SSH_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def _ssh_key() -> Path | None:
    folder = Path.home() / ".ssh"
    for name in SSH_KEYS:
        if (folder / name).is_file() and (folder / f"{name}.pub").is_file():
            return folder / name
    return None


# Signs without making a ref (a commit object nobody points at): shows the signer's own error.
TRIAL = "git commit-tree -S -m test HEAD^{tree}"


def signing_help(repo: Repo) -> tuple[str, str | None]:
    """``(what to do, the command that does it)`` when git could not sign.

    Without a usable key and with an SSH key in ~/.ssh, pointing git at that key is one command. Anything
    else (a key elsewhere, a GPG setup) is the user's to choose, so it is said, not guessed.
    """
    key = repo.config("user.signingkey")
    fmt = repo.config("gpg.format") or "openpgp"
    missing = key is None
    if key is not None and fmt == "ssh" and not key.startswith("key::"):
        missing = not (repo.root / os.path.expanduser(key)).exists()
    if not missing:
        return f"check user.signingkey ({key}) and gpg.format ({fmt}): `{TRIAL}` shows git's own error", None
    said = f"user.signingkey {key} does not exist" if key else "git has no signing key (user.signingkey)"
    found = _ssh_key()
    if found is None:
        return (
            f"{said}: make one with `ssh-keygen -t ed25519`, then point git at it: "
            "`git config gpg.format ssh` and `git config user.signingkey` with the key's path"
        ), None
    fix = advice.chain(
        advice.command("git", "config", "gpg.format", "ssh"),
        advice.command("git", "config", "user.signingkey", str(found)),
    )
    return f"{said}; {found} is an SSH key git can sign with", fix


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


def _create_tag(
    repo: Repo, tag: str, commit: str, message: str, sign: bool, *, required: bool = False
) -> str:
    args = ["tag", "-s" if sign else "--no-sign", "-a", "--cleanup=verbatim", "-F", "-", tag, commit]
    result = repo.run(*args, stdin=message.encode("utf-8"), check=False)
    if result.returncode != 0:
        if "already exists" in result.err:
            raise Conflict(
                f"tag {tag} already exists (made while this release was prepared); nothing was changed: "
                "`git fetch --tags`, then `git modelver status`"
            )
        detail = _last_line(result.err, "git tag failed")
        if sign:
            raise _signing_failed(repo, tag, detail, required)
        raise UsageError(f"creating {tag} failed: {detail}")
    oid = repo.run("rev-parse", f"refs/tags/{tag}").out.strip()
    if sign and not _tag_is_signed(repo, oid):
        # Some git versions write an unsigned tag and exit 0 when the signing program fails.
        _delete_tag(repo, tag, oid)
        raise _signing_failed(repo, tag, _last_line(result.err), required)
    return oid


def _signing_failed(repo: Repo, tag: str, detail: str, required: bool) -> UsageError:
    """What to do when the tag could not be signed; never --no-sign when the policy demands a signature."""
    todo, fix = signing_help(repo)
    other = "" if required or fix else "; or release unsigned with --no-sign"
    demanded = " (policy.require_signed is on)" if required else ""
    return UsageError(f"signing {tag} failed{demanded}: {detail}; {todo}{other}", fix=fix)


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
        raise Conflict(
            f"tag {tag} already exists on another commit; nothing was changed: `git fetch --tags`, then "
            "`git modelver status` says what to release"
        )
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
            "block in the tag message: reword it (release writes trailers and signatures itself)"
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
    check_missing(repo, snap)
    check_version(repo, plan)
    do_sign = decide_signing(repo, snap, sign)
    text = snap.locked_text(str(plan.next))
    data = manifest.parse(text, plan.system.file).data
    tag_message = _tag_message(plan, data, message, stale)
    with mutex.held(repo.state_dir() / "release.lock", "release"):
        head = repo.head()
        if (head.id if head else None) != plan.head:
            raise Conflict("HEAD moved while the release was prepared; nothing was changed: run it again")
        ref = repo.head_ref()
        recovered = _interrupted(repo, plan, do_sign)
        commit = recovered or build_commit(repo, plan, text, _commit_message(plan, message))
        existing = repo.run("rev-parse", "-q", "--verify", f"refs/tags/{plan.tag}", check=False).out.strip()
        required = bool(snap.manifest.policy.get("require_signed"))
        tag_oid = existing or _create_tag(repo, plan.tag, commit, tag_message, do_sign, required=required)
        _check_signature(repo, plan, tag_oid, snap)
        if not _cas_head(repo, ref, commit, plan.head, f"modelver: release {plan.tag}"):
            _delete_tag(repo, plan.tag, tag_oid)
            raise Conflict(f"{ref} moved during the release; nothing was changed: run it again")
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
        raise CheckFailed(f"{plan.tag}: {sig.detail}; {_trust_help(repo, sig.format)}, then release again")


def _trust_help(repo: Repo, fmt: str | None) -> str:
    """How to make git trust the signing key: editing a trust file is the user's, so it is said."""
    if fmt != "ssh":
        return "policy.require_signed needs a signature git verifies: trust your key in your GPG keyring"
    listed = repo.config("gpg.ssh.allowedSignersFile")
    line = 'a line `EMAIL namespaces="git" PUBLIC-KEY` for your key'
    if listed:
        return f"policy.require_signed needs a signature git verifies: add {line} to {listed}"
    return (
        f"policy.require_signed needs a signature git verifies: write {line} to a file and name it with "
        "`git config gpg.ssh.allowedSignersFile`"
    )


def _commit_message(plan: Plan, message: str | None) -> str:
    lines = [f"Release {plan.system.name} v{plan.next} ({plan.level or 'initial'})", ""]
    if message:
        lines += [message.strip(), ""]
    lines += [tagmsg.change_line(c) for c in plan.changes[: tagmsg.MAX_SUMMARY_LINES]]
    return "\n".join(lines).rstrip() + "\n"
