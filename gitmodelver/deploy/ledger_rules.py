"""What a line of the ledger's events must be, and how it must follow the line before it. Pure: no I/O.

The lines of an environment are those of its shards in order (``events/<env>/<NNNNNNNN>.jsonl``, see
``shards``), or of the single file an older version wrote; a scan of a shard continues from the ``Tail`` of
the one before it, so ``seq`` and ``at`` run on across shards.

Shared by the readers (every command and the Router refuse a ledger that breaks these rules) and the
server's pre-receive, which also checks each new line against the JSON schema and the version tags.

The readers check the structure they rely on: a UTF-8 JSON object per line, ``seq`` an integer that
continues the previous line's by exactly one (starting at 1), ``at`` in the ledger's fixed-width UTC form
and never earlier than the previous line's, ``env`` the file's, ``type`` a known kind, ``version`` a
string, ``traffic`` an object of percentages, and the state the commands continue from (``versions``,
the rollout in progress) of the types they read. That is one linear pass with ``json.loads`` and a few
type checks per line; jsonschema would cost ten times as much and is left to the server, which only
ever checks the lines a push adds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

# [0-9], not \d: \d takes any Unicode digit, and these strings are compared byte for byte.
AT_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
TYPES = frozenset({"deploy", "rollout-start", "rollout-step", "promote", "rollback", "abort"})
REQUIRED = ("seq", "at", "env", "type", "version", "traffic")
OPTIONAL_TEXT = ("stable", "candidate", "previous_stable", "state")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a surrogate escaped: fine in a pair, not alone
SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "ledger-event.schema.json"


@dataclass(frozen=True)
class Problem:
    """One broken line: where, and what is wrong with it."""

    path: str  # events/prod/00000001.jsonl
    line: int  # 0: the file as a whole
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}" if self.line else f"{self.path}: {self.what}"


@dataclass(frozen=True)
class Tail:
    """Where a file ends: what the next line has to follow."""

    lines: int = 0
    seq: int | None = 0  # None: the last line was unreadable, so the next one's seq cannot be judged
    at: str = ""


@dataclass
class Scan:
    """A file read line by line: the events that have the right shape, and every problem found."""

    path: str
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    tail: Tail = field(default_factory=Tail)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The line as an object, or why it is not one."""
    try:
        text = raw.decode("utf-8")  # explicit: json.loads on bytes would take a BOM for UTF-16
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    if not text.strip():
        return None, "empty line"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return None, f"not a JSON object but {type(value).__name__}"
    if _SURROGATE.search(text) and not _printable(value):
        return None, "a lone \\uD800-\\uDFFF escape: not text any output could carry"
    return value, None


def _printable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shape(event: Mapping[str, Any], env: str) -> list[str]:
    """What is wrong with an event's fields, as the readers rely on them."""
    if _well_formed(event, env):  # the common case, without building a message
        return _state(event)
    missing = [key for key in REQUIRED if key not in event]
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems = []
    seq = event["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        problems.append(f"seq {seq!r} is not a whole number from 1")
    at = event["at"]
    if not isinstance(at, str) or not AT_FORM.fullmatch(at):
        problems.append(f"at {at!r} is not a UTC time like 2026-11-27T09:30:00.000000Z")
    if event["env"] != env:
        problems.append(f"env {event['env']!r} in the file of {env!r}")
    if event["type"] not in TYPES:
        problems.append(f"type {event['type']!r} is none of {', '.join(sorted(TYPES))}")
    if not isinstance(event["version"], str):
        problems.append(f"version {event['version']!r} is not a tag name")
    problems += _traffic(event["traffic"])
    for key in OPTIONAL_TEXT:
        if event.get(key) is not None and not isinstance(event[key], str):
            problems.append(f"{key} {event[key]!r} is not a tag name or null")
    return problems or _state(event)


def _state(event: Mapping[str, Any]) -> list[str]:
    """The state the deployment commands continue from: versions, and the rollout in progress."""
    problems = []
    versions = event.get("versions")
    if versions is not None and (
        type(versions) is not dict or not all(type(v) is dict for v in versions.values())
    ):
        problems.append("versions is not an object of {tag_object, digest} objects")
    rollout = event.get("rollout")
    if rollout is not None:
        problems += _rollout(rollout)
    if event.get("state") == "rolling" and not (rollout and event.get("stable") and event.get("candidate")):
        problems.append("state is rolling, but stable, candidate or rollout is missing")
    return problems


def _rollout(rollout: Any) -> list[str]:
    if type(rollout) is not dict:
        return [f"rollout {rollout!r} is not an object"]
    steps = rollout.get("steps")
    if type(steps) is not list or not steps or not all(type(s) in _NUMBER for s in steps):
        return [f"rollout.steps {steps!r} is not a list of percentages"]
    wrong = [k for k in ("index", "failures") if not _count(rollout.get(k))]
    wrong += [k for k in ("failure_limit", "min_samples") if k in rollout and not _count(rollout[k])]
    return [f"rollout.{k} {rollout.get(k)!r} is not a whole number from 0" for k in wrong]


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _well_formed(event: Mapping[str, Any], env: str) -> bool:
    """``shape``'s verdict on the core fields, fast: plain comparisons, no messages, no generators."""
    try:
        seq, at, traffic = event["seq"], event["at"], event["traffic"]
        if not (
            type(seq) is int
            and seq > 0
            and type(at) is str
            and AT_FORM.fullmatch(at) is not None
            and event["env"] == env
            and event["type"] in TYPES
            and type(event["version"]) is str
            and type(traffic) is dict
        ):
            return False
    except (KeyError, TypeError):  # TypeError: an unhashable type
        return False
    for share in traffic.values():
        if type(share) not in _NUMBER or not 0 <= share <= 100:
            return False
    get = event.get
    return (
        type(get("stable")) in _TEXT
        and type(get("candidate")) in _TEXT
        and type(get("previous_stable")) in _TEXT
        and type(get("state")) in _TEXT
    )


_NUMBER = (int, float)
_TEXT = (str, type(None))


def _traffic(traffic: Any) -> list[str]:
    if not isinstance(traffic, dict):
        return [f"traffic {traffic!r} is not an object of percentages"]
    wrong = [
        tag
        for tag, share in traffic.items()
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 100
    ]
    return [f"traffic of {tag} is {traffic[tag]!r}, not a percentage" for tag in wrong]


def follows(tail: Tail, event: Mapping[str, Any]) -> list[str]:
    """What is wrong with how a well-shaped event continues the file that ends at ``tail``."""
    problems = []
    seq, want = event["seq"], (tail.seq + 1 if tail.seq is not None else None)
    if want is not None and seq != want:
        if tail.seq == 0:
            problems.append(f"seq {seq} on the first line: the first event is seq 1")
        elif seq > want:
            gap = f"seq {want} is" if seq == want + 1 else f"seq {want} to {seq - 1} are"
            problems.append(f"seq {tail.seq}, {seq}: {gap} missing")
        else:
            problems.append(f"seq {seq} after seq {tail.seq}: expected seq {want}")
    if event["at"] < tail.at:
        problems.append(f"at {event['at']} is earlier than the previous event's {tail.at}")
    return problems


def scan(data: bytes, path: str, env: str, tail: Tail | None = None, *, keep: bool = False) -> Scan:
    """Check every line of ``data``, which continues a file ending at ``tail`` (a new file by default).

    A line that does not parse or has the wrong shape is a problem and is left out of ``events``; one that
    is merely out of sequence is a problem and is kept, so an auditor still sees it. ``keep``: collect the
    events (the readers that only need a verdict skip building the list).
    """
    found = Scan(path, tail=tail or Tail())
    current = found.tail
    for raw in data.split(b"\n")[:-1] if data.endswith(b"\n") or not data else data.split(b"\n"):
        line = current.lines + 1
        event, unreadable = parse_line(raw)
        wrong = shape(event, env) if event is not None else [unreadable or "unreadable"]
        if event is None or wrong:
            found.problems += [Problem(path, line, p) for p in wrong]
            current = Tail(line, None, current.at)  # the next line's seq cannot be judged against it
            continue
        found.problems += [Problem(path, line, p) for p in follows(current, event)]
        current = Tail(line, event["seq"], max(current.at, event["at"]))
        if keep:
            found.events.append(event)
    if data and not data.endswith(b"\n"):
        found.problems.append(Problem(path, current.lines, "no newline at the end (a partial write?)"))
    found.tail = current
    return found


# --------------------------------------------------------------------------- the server's extra rules


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # lazy: only a push that adds ledger lines pays for it

    schema = json.loads(SCHEMA.read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


def schema_problems(event: Mapping[str, Any]) -> list[str]:
    """Every way the event breaks ``schemas/ledger-event.schema.json``."""
    found = []
    for error in sorted(_validator().iter_errors(event), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path)
        found.append(f"{where}: {error.message}" if where else error.message)
    return found


def first_difference(old: bytes, new: bytes) -> int:
    """The number of the first line of ``old`` that ``new`` does not repeat byte for byte."""
    old_lines = old.split(b"\n")
    same = 0
    for a, b in zip(old_lines, new.split(b"\n"), strict=False):
        if a != b:
            break
        same += 1
    return min(same + 1, max(len(old_lines) - 1, 1))
