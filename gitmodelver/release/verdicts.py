"""What ``verify`` learned from Git objects, kept in the versions index (``gitstore.index``) so the next run
does not learn it again. ``rm -rf .git/modelver/index`` forgets it; a bare repository (a server) never
keeps it.

Both sections share one scope: a digest of the code and the schemas that reach a verdict (``core``,
``release``, ``gitstore``, the schemas, and the package's ``__init__``, which holds its version). An
upgrade, or any edit of that code, drops them.

``manifests``: manifest blob id -> the verdict of the schema and the path rules on that text: ``true``, or
its problems, each without the ``FILE@TAG`` that starts it (the blob may sit in many releases). It depends
on the blob's bytes alone: a manifest read from Git is checked with no working tree, so the path rules see
only the text. Whether the files it names exist, and match their pins, is the ``pins`` check's, below.

``versions``: tag object id -> the checks of that version decided by the objects the tag object leads to:
``tag-object``, ``manifest``, ``digest``, ``pins``, ``evaluation``, ``pipeline``. A tag object names its
commit, and a commit its tree, its parents and every blob in them, by content: none of it can change. The
entry also records the tag name and the manifest path it was judged for (a tag object can be put under
another name; a system's manifest can move) and is used only for those. (A verdict says what those
objects hold; one of them going missing afterwards, in a damaged repository, is for `git fsck` to find.)
Checks that depend on more are kept differently or not at all:

* ``level`` depends on which other tags exist: the release it follows is derived from the tags listed in
  each run. The entry keeps that release's tag and commit with the verdict, which is reused only when this
  run derives the same one; adding or deleting tags changes the derivation, and so the check is made again.
* ``signature`` depends on the trust configured: ``gitstore.signature`` keeps git's verdicts by tag object
  under a fingerprint of that trust. Kept here is only whether the manifest's policy requires signatures.
* checks beyond Git objects (the DVC cache and remote, ``--remote``/``--deep``) always run.

An entry is found only by the id of an object in hand, so an entry for any other object changes nothing.
The index lives in ``.git`` beside the configuration and the hooks, and whoever can write there can change
what git and this tool run anyway: it is trusted as they are. The objects themselves are not: a tag
object fetched from elsewhere has an id no entry was written for, and is judged in full.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from gitmodelver.gitstore import index
from gitmodelver.gitstore.repo import Repo
from gitmodelver.release.checks import Check

FORMAT = "verify/1"  # raise when what a section holds changes shape
MANIFESTS = "manifests"
VERSIONS = "versions"
_PACKAGE = Path(__file__).resolve().parent.parent
_CODE = ("core", "release", "gitstore")


@functools.lru_cache(maxsize=1)
def scope() -> str:
    """A digest of everything that reaches a verdict: the code (the package's ``__init__``, which holds
    its version, and ``core``, ``release``, ``gitstore``) and the schemas."""
    digest = hashlib.sha256(FORMAT.encode())
    files = [
        _PACKAGE / "__init__.py",
        *(p for folder in _CODE for p in sorted((_PACKAGE / folder).glob("*.py"))),
    ]
    for path in [*files, *sorted((_PACKAGE / "schemas").glob("*.json"))]:
        try:
            data = path.read_bytes()
        except OSError:
            data = b"-"
        digest.update(f"{path.relative_to(_PACKAGE).as_posix()}\0{len(data)}\0".encode() + data)
    return f"{FORMAT} {digest.hexdigest()}"


Problems = tuple[str, ...]  # a manifest's problems, each to follow ``FILE@TAG``


@dataclass(frozen=True)
class Verdict:
    """The checks of one version its Git objects decide, in report order: ``tag-object``, ``manifest``,
    then, when the manifest could be read, ``digest``, ``pins``, ``level``, ``evaluation``…, ``pipeline``….

    Kept as ``[tag, file, require_signed, previous, [[name, ok, detail], …]]``.
    """

    tag: str
    file: str  # the manifest's path
    require_signed: bool  # the manifest's policy (the signature itself is judged in each run)
    checks: tuple[Check, ...]
    previous: tuple[str, str] | None  # the release the level was judged against: (tag, commit)

    @property
    def leveled(self) -> bool:
        """Whether the manifest could be read, and so the level judged."""
        return len(self.checks) > LEVEL

    def with_level(self, previous: tuple[str, str] | None, level: Check) -> Verdict:
        checks = (*self.checks[:LEVEL], level, *self.checks[LEVEL + 1 :])
        return Verdict(self.tag, self.file, self.require_signed, checks, previous)

    def as_json(self) -> list[Any]:
        previous = list(self.previous) if self.previous is not None else None
        return [self.tag, self.file, self.require_signed, previous, [list(c) for c in self.checks]]

    @classmethod
    def from_json(cls, value: Any) -> Verdict | None:
        """The verdict an entry holds, or None for an entry of any other shape (then judge again).

        Exact types, not isinstance: ten thousand versions hold fifty thousand checks to read.
        """
        if type(value) is not list or len(value) != 5:
            return None
        tag, file, required, previous, items = value
        if type(tag) is not str or type(file) is not str or type(required) is not bool:
            return None
        if previous is not None and not (
            type(previous) is list and len(previous) == 2 and all(type(p) is str for p in previous)
        ):
            return None
        if type(items) is not list or not (len(items) == 2 or len(items) > LEVEL):
            return None
        checks = []
        for item in items:
            if type(item) is not list or len(item) != 3:
                return None
            name, ok, detail = item
            if type(name) is not str or type(ok) is not bool or type(detail) is not str:
                return None
            checks.append(Check(name, ok, detail))
        if len(checks) > LEVEL and checks[LEVEL].name != "level":
            return None
        return cls(tag, file, required, tuple(checks), tuple(previous) if previous is not None else None)


LEVEL = 4  # where the level check sits among a verdict's checks


class Kept:
    """The two sections, read once for a run of many versions; ``save`` writes what the run learned."""

    def __init__(self, repo: Repo, *, versions: bool = True) -> None:
        self.manifests: index.Section = index.Section(repo, MANIFESTS, scope())
        self.versions: index.Section | None = index.Section(repo, VERSIONS, scope()) if versions else None

    def manifest(self, blob: str) -> Problems | Literal[True] | None:
        """True for a valid manifest, its problems for an invalid one, None when not known."""
        value = self.manifests.get(blob)
        if value is True:
            return True
        if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
            return tuple(value)
        return None

    def learn_manifest(self, blob: str, verdict: Problems | Literal[True]) -> None:
        self.manifests.put(blob, True if verdict is True else list(verdict))

    def version(self, target: str, tag: str, file: str) -> Verdict | None:
        """The verdict kept for the tag object ``target`` under the name ``tag``, for the manifest
        ``file``; None when there is none."""
        if self.versions is None:
            return None
        found = Verdict.from_json(self.versions.get(target))
        return found if found is not None and found.tag == tag and found.file == file else None

    def knows(self, target: str) -> bool:
        """Whether a verdict is kept for the tag object ``target`` (whatever it says)."""
        return self.versions is not None and self.versions.get(target) is not None

    def learn_version(self, target: str, verdict: Verdict) -> None:
        if self.versions is not None:
            self.versions.put(target, verdict.as_json())

    def learned(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """What this run added (for another process's ``learn``)."""
        return dict(self.manifests.added), dict(self.versions.added) if self.versions is not None else None

    def learn(self, learned: object) -> None:
        """What another process of the same run added (``learned``)."""
        manifests, versions = cast(tuple[dict[str, Any], dict[str, Any] | None], learned)
        self.manifests.update(manifests)
        if self.versions is not None and versions is not None:
            self.versions.update(versions)

    def save(self) -> None:
        self.manifests.save()
        if self.versions is not None:
            self.versions.save()
