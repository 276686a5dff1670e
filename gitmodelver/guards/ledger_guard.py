"""What a push may do to the ledger's content: append sound lines to an environment's last shard, no more.

The branch moving forward is not enough: a fast-forward can delete or edit an earlier line, or append one
that no reader can trust. Between the old and the new tip (the net change; every new line is checked), per
environment (``events/<env>/<NNNNNNNN>.jsonl``, see ``deploy.shards``):

* only the last shard may grow, and only by lines appended (its earlier lines stay byte for byte); every
  earlier shard never changes and no shard disappears;
* a new shard may begin only after the last one, when that one is full (``SHARD`` lines), and is named
  after the seq of its first event;
* an older version's single file ``events/<env>.jsonl`` may still grow by appended lines, and may be moved
  into shards in one commit: the file gone, shards whose lines start with its bytes exactly; it may not
  come back once the environment is kept in shards, nor sit beside them; no other path belongs on the ledger;
* every new line obeys ``ledger_rules`` (the readers' rules: UTF-8 JSON, ``seq`` continuing by one across
  shards, ``at`` never going back, the file's ``env``), the JSON schema, and names a version tag that exists
  (here, or created by the same push) whose tag object is the ``tag_object`` the line records.

Only the changed shards are read: a push of one event reads the old and the new last shard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pygit2

from gitmodelver.core.semver import parse_tag
from gitmodelver.deploy import ledger_rules as rules
from gitmodelver.deploy import shards
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import blob_data

TAGS = "refs/tags/"
LEDGER = "refs/heads/modelver/ledger"
SHOWN = 20  # problems listed per file; a push of ten thousand bad lines needs no ten thousand lines
RESTORE = f"git fetch origin +{LEDGER}:{LEDGER}"  # the pusher's ledger back to the remote's
ONLY = "only events/<env>/<NNNNNNNN>.jsonl shards belong on the ledger (plain files)"


@dataclass(frozen=True)
class Finding:
    """One reason the ledger update may not land, with the command that fixes it."""

    message: str
    fix: str = RESTORE


@dataclass
class Layout:
    """One environment's files in one commit: an older version's single file, and shards by first seq."""

    legacy: pygit2.Oid | None = None
    shards: dict[int, pygit2.Oid] = field(default_factory=dict)


def check(repo: Repo, old: str | None, new: str, tags: Mapping[str, str]) -> list[Finding]:
    """Every problem with the ledger moving from ``old`` (None: a new branch) to ``new``.

    ``tags``: the refs a version tag of the same push will have (``refs/tags/NAME@vX.Y.Z`` -> object).
    """
    before = _files(repo, old) if old is not None else {}
    after = _files(repo, new)
    envs_before, _ = _layouts(before)
    envs_after, stray = _layouts(after)
    found = [Finding(f"{path}: {ONLY}") for path in stray if before.get(path) != after[path]]
    found += [
        Finding(f"{path}: deleting it is refused: the ledger is append-only")
        for path in sorted(before.keys() - after.keys())
        if shards.where(path) is None
    ]
    for env in sorted(envs_before.keys() | envs_after.keys()):
        if envs_before.get(env) == envs_after.get(env):
            continue  # untouched by the push: nothing of it is read
        found += Environment(repo, env, tags).check(
            envs_before.get(env, Layout()), envs_after.get(env, Layout())
        )
    return found


def _layouts(files: Mapping[str, tuple[pygit2.Oid, int]]) -> tuple[dict[str, Layout], list[str]]:
    """The environments' files, and the paths that belong to none."""
    envs: dict[str, Layout] = {}
    stray = []
    for path, (oid, mode) in sorted(files.items()):
        place = shards.where(path)
        if place is None or mode != pygit2.enums.FileMode.BLOB:
            stray.append(path)
            continue
        layout = envs.setdefault(place[0], Layout())
        if place[1] is None:
            layout.legacy = oid
        else:
            layout.shards[place[1]] = oid
    return envs, stray


@dataclass
class Environment:
    """The rules for one environment's files."""

    repo: Repo
    env: str
    tags: Mapping[str, str]

    def check(self, before: Layout, after: Layout) -> list[Finding]:
        legacy, folder = shards.legacy_path(self.env), shards.folder_of(self.env)
        if after.legacy is not None and after.shards:
            what = "an environment is kept either in one file (by an older version) or in shards, never both"
            return [Finding(f"{legacy} and {folder}/: both hold {self.env}'s events: {what}")]
        if before.shards:
            if after.legacy is not None:
                what = (
                    f"recreating an older version's events file is refused: {self.env} is kept in {folder}/"
                )
                return [Finding(f"{legacy}: {what}")]
            return self._grown(before.shards, after.shards)
        if before.legacy is not None and after.legacy is not None:
            return self._appended(legacy, self._data(before.legacy), self._data(after.legacy))
        if before.legacy is not None and not after.shards:
            return [Finding(f"{legacy}: deleting an events file is refused: the ledger is append-only")]
        if before.legacy is not None:
            return self._moved(self._data(before.legacy), after.shards)
        if after.legacy is not None:  # a new environment, recorded by an older version
            return self._appended(legacy, b"", self._data(after.legacy))
        return self._walk(sorted(after.shards.items()), 0, 1, {}, rules.Tail())

    def _path(self, first: int) -> str:
        return shards.shard_path(self.env, first)

    def _data(self, oid: pygit2.Oid) -> bytes:
        return blob_data(self.repo.git, oid) or b""

    def _grown(self, before: Mapping[int, pygit2.Oid], after: Mapping[int, pygit2.Oid]) -> list[Finding]:
        """Shards before and after: the earlier ones as they were, the last one grown, new ones after it."""
        last = max(before)
        found = []
        for first, oid in sorted(before.items()):
            path = self._path(first)
            if first not in after:
                found.append(Finding(f"{path}: deleting a shard is refused: the ledger is append-only"))
            elif first != last and after[first] != oid:
                line = rules.first_difference(self._data(oid), self._data(after[first]))
                what = f"line {line} of a full shard was edited or deleted: full shards never change"
                found.append(Finding(f"{path}:{line}: {what}"))
        inserted = [first for first in after if first < last and first not in before]
        found += [
            Finding(f"{self._path(first)}: a shard may begin only after the last one, {self._path(last)}")
            for first in sorted(inserted)
        ]
        if found or last not in after:
            return found
        old = self._data(before[last])
        if not self._data(after[last]).startswith(old):
            return self._appended(self._path(last), old, self._data(after[last]))
        order = sorted(after.items())
        return self._walk(order, order.index((last, after[last])), last, {last: old}, rules.Tail())

    def _moved(self, legacy: bytes, after: Mapping[int, pygit2.Oid]) -> list[Finding]:
        """An older version's file moved into shards: they start with its bytes, then go on as shards do."""
        path = shards.legacy_path(self.env)
        if legacy and not legacy.endswith(b"\n"):
            line = legacy.count(b"\n") + 1
            return [Finding(f"{path}:{line}: this line has no newline at its end, so nothing can follow it")]
        order = sorted(after.items())
        contents = [self._data(oid) for _, oid in order]
        joined = b"".join(contents)
        if not joined.startswith(legacy):
            line = rules.first_difference(legacy, joined)
            what = f"moved into {shards.folder_of(self.env)}/, line {line} did not stay byte for byte"
            return [Finding(f"{path}:{line}: {what}: the shards start with the file's lines, unchanged")]
        olds, offset, found = {}, 0, []
        for (first, _), data in zip(order, contents, strict=True):
            olds[first] = data[: max(0, min(len(data), len(legacy) - offset))]
            offset += len(data)
            if olds[first] == data and not data.endswith(b"\n"):  # the file's lines all end with one
                line = data.count(b"\n") + 1
                found.append(
                    Finding(f"{self._path(first)}:{line}: the file was cut into shards inside a line")
                )
        return found or self._walk(order, 0, 1, olds, rules.Tail())

    def _walk(
        self,
        order: list[tuple[int, pygit2.Oid]],
        start: int,
        expected: int,
        olds: Mapping[int, bytes],
        end: rules.Tail,
    ) -> list[Finding]:
        """The shards from ``order[start]`` on, the first of them starting at seq ``expected``: each named
        after its first seq, full when another follows, and every line beyond what the server has
        (``olds``: first seq -> bytes) sound. ``end``: where the shard before ``order[start]`` ended."""
        found: list[Finding] = []
        for index in range(start, len(order)):
            first, oid = order[index]
            path = self._path(first)
            if first != expected:
                name = shards.name_of(expected)
                found.append(
                    Finding(
                        f"{path}: a shard is named after its first event: this one is seq {expected}, {name}"
                    )
                )
                return found  # the shards after it cannot be placed
            data = self._data(oid)
            lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
            found += self._fullness(index, order, lines)
            old = olds.get(first, b"")
            tail = _tail(old) if old else rules.Tail(0, end.seq, end.at)
            problems, end = self._new_lines(path, data[len(old) :], tail)
            found += problems
            expected = first + lines
        return found

    def _fullness(self, index: int, order: list[tuple[int, pygit2.Oid]], lines: int) -> list[Finding]:
        path, size = self._path(order[index][0]), shards.SHARD
        if lines == 0:
            return [Finding(f"{path}: an empty shard: a shard holds 1 to {size} events")]
        if lines > size:
            return [Finding(f"{path}:{size + 1}: a shard holds {size} events: this one goes on past them")]
        if index + 1 < len(order) and lines < size:
            what = (
                f"a shard may begin only when the one before is full: {path} holds {lines} of {size} events"
            )
            return [Finding(f"{self._path(order[index + 1][0])}: {what}")]
        return []

    def _appended(self, path: str, old: bytes, new: bytes) -> list[Finding]:
        """One file grown from ``old`` to ``new``: earlier lines kept byte for byte, the new ones sound."""
        if not new.startswith(old):
            line = rules.first_difference(old, new)
            what = f"line {line} was edited or deleted: earlier lines stay byte for byte (append-only)"
            return [Finding(f"{path}:{line}: {what}")]
        if old and not old.endswith(b"\n"):
            line = old.count(b"\n") + 1
            return [Finding(f"{path}:{line}: this line has no newline at its end, so nothing can follow it")]
        return self._new_lines(path, new[len(old) :], _tail(old))[0]

    def _new_lines(self, path: str, added: bytes, tail: rules.Tail) -> tuple[list[Finding], rules.Tail]:
        """Every problem with ``added``, the lines after ``tail``; and where they end."""
        found = rules.scan(added, path, self.env, tail)
        problems = [(p.line, p.what, RESTORE) for p in found.problems]
        broken = {p.line for p in found.problems}
        for number, raw in enumerate(added.split(b"\n")[:-1], tail.lines + 1):
            if number not in broken:
                event, _ = rules.parse_line(raw)
                problems += [(number, what, fix) for what, fix in self._truth(event or {})]
        problems.sort(key=lambda p: p[0])
        shown = [Finding(f"{path}:{line}: {what}", fix) for line, what, fix in problems[:SHOWN]]
        if len(problems) > SHOWN:
            shown.append(Finding(f"{path}: {len(problems) - SHOWN} more problems in the lines pushed"))
        return shown, found.tail

    def _truth(self, event: Mapping[str, object]) -> list[tuple[str, str]]:
        """What the schema says of a well-formed line, then whether its tag is the one it names."""
        problems = rules.schema_problems(event)
        if problems:
            return [(p, RESTORE) for p in problems]
        version, recorded = str(event["version"]), str(event["tag_object"])
        if parse_tag(version) is None:
            return [(f"version {version!r} is not a version tag (NAME@vX.Y.Z)", RESTORE)]
        target = self.tags.get(TAGS + version) or _target(self.repo, TAGS + version)
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


def _target(repo: Repo, ref: str) -> str | None:
    try:
        return str(repo.git.references[ref].resolve().target)
    except (KeyError, pygit2.GitError):
        return None
