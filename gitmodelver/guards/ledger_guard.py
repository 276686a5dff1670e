"""What a push may do to the ledger's content: append sound lines to ``events/<env>.jsonl``, nothing else.

The branch moving forward is not enough: a fast-forward can delete or edit an earlier line, or append one
that no reader can trust. Between the old and the new tip (the net change; every new line is checked):
every earlier line stays byte for byte (the old file is a prefix of the new one), no file but
``events/<env>.jsonl`` appears and none disappears, and every new line obeys ``ledger_rules`` (the readers'
rules: UTF-8 JSON, ``seq`` continuing by one, ``at`` never going back, the file's ``env``), the JSON schema,
and names a version tag that exists (here, or created by the same push) whose tag object is the
``tag_object`` the line records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from gitmodelver.core.semver import parse_tag
from gitmodelver.deploy import ledger_rules as rules
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

TAGS = "refs/tags/"
LEDGER = "refs/heads/modelver/ledger"
SHOWN = 20  # problems listed per file; a push of ten thousand bad lines needs no ten thousand lines
RESTORE = f"git fetch origin +{LEDGER}:{LEDGER}"  # the pusher's ledger back to the remote's


@dataclass(frozen=True)
class Finding:
    """One reason the ledger update may not land, with the command that fixes it."""

    message: str
    fix: str = RESTORE


def check(repo: Repo, old: str | None, new: str, tags: Mapping[str, str]) -> list[Finding]:
    """Every problem with the ledger moving from ``old`` (None: a new branch) to ``new``.

    ``tags``: the refs a version tag of the same push will have (``refs/tags/NAME@vX.Y.Z`` -> object).
    """
    before = _files(repo, old) if old is not None else {}
    after = _files(repo, new)
    found = [
        Finding(f"{path}: deleting an events file is refused: the ledger is append-only")
        for path in sorted(before.keys() - after.keys())
    ]
    for path, (oid, mode) in sorted(after.items()):
        if before.get(path) == (oid, mode):
            continue
        env = rules.env_of(path)
        if env is None or mode != pygit2.enums.FileMode.BLOB:
            found.append(Finding(f"{path}: only events/<env>.jsonl files belong on the ledger (plain files)"))
            continue
        was = _data(repo, before[path][0]) if path in before else b""
        found += _file(repo, path, env, was, _data(repo, oid), tags)
    return found


def _file(repo: Repo, path: str, env: str, old: bytes, new: bytes, tags: Mapping[str, str]) -> list[Finding]:
    if not new.startswith(old):
        line = rules.first_difference(old, new)
        what = f"line {line} was edited or deleted: earlier lines stay byte for byte (append-only)"
        return [Finding(f"{path}:{line}: {what}")]
    if old and not old.endswith(b"\n"):
        line = old.count(b"\n") + 1
        return [Finding(f"{path}:{line}: this line has no newline at its end, so nothing can follow it")]
    added = new[len(old) :]
    found = rules.scan(added, path, env, _tail(old))
    problems = [(p.line, p.what, RESTORE) for p in found.problems]
    broken = {p.line for p in found.problems}
    first = old.count(b"\n") + 1
    for number, raw in enumerate(added.split(b"\n")[:-1], first):
        if number not in broken:
            event, _ = rules.parse_line(raw)
            problems += [(number, what, fix) for what, fix in _truth(repo, event or {}, tags)]
    problems.sort(key=lambda p: p[0])
    shown = [Finding(f"{path}:{line}: {what}", fix) for line, what, fix in problems[:SHOWN]]
    if len(problems) > SHOWN:
        shown.append(Finding(f"{path}: {len(problems) - SHOWN} more problems in the lines pushed"))
    return shown


def _truth(repo: Repo, event: Mapping[str, object], tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """What the schema says of a well-formed line, then whether its tag is the one it names."""
    problems = rules.schema_problems(event)
    if problems:
        return [(p, RESTORE) for p in problems]
    version, recorded = str(event["version"]), str(event["tag_object"])
    if parse_tag(version) is None:
        return [(f"version {version!r} is not a version tag (NAME@vX.Y.Z)", RESTORE)]
    target = tags.get(TAGS + version) or _target(repo, TAGS + version)
    if target is None:
        # Pushed without its tag, perhaps: the tag goes with the events that name it.
        return [(f"version tag {version} does not exist", f"git push origin {TAGS}{version} {LEDGER}")]
    if target != recorded:
        what = f"tag_object {recorded[:12]} is not the object of tag {version} ({target[:12]})"
        return [(what, RESTORE)]
    return []


def _tail(old: bytes) -> rules.Tail:
    """Where the file on the server ends, for the first new line to follow."""
    if not old:
        return rules.Tail()
    body = old.rstrip(b"\n")
    event, _ = rules.parse_line(body[body.rfind(b"\n") + 1 :])
    seq = (event or {}).get("seq")
    at = (event or {}).get("at")
    return rules.Tail(
        old.count(b"\n"),
        seq if type(seq) is int else None,  # unreadable: the first new line's seq cannot be judged
        at if isinstance(at, str) else "",
    )


def _files(repo: Repo, commit: str) -> dict[str, tuple[pygit2.Oid, int]]:
    """Every entry of the commit's tree, folders walked: path -> (id, mode)."""
    found: dict[str, tuple[pygit2.Oid, int]] = {}
    folders: list[tuple[str, pygit2.Tree]] = [("", repo.git[commit].peel(pygit2.Tree))]
    while folders:
        prefix, tree = folders.pop()
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if entry.filemode == pygit2.enums.FileMode.TREE:
                folders.append((f"{path}/", repo.git[entry.id].peel(pygit2.Tree)))
            else:
                found[path] = (entry.id, int(entry.filemode))
    return found


def _data(repo: Repo, oid: pygit2.Oid) -> bytes:
    return blob_data(repo.git, oid) or b""


def _target(repo: Repo, ref: str) -> str | None:
    try:
        return str(repo.git.references[ref].resolve().target)
    except (KeyError, pygit2.GitError):
        return None
