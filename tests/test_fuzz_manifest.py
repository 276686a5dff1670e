"""Fuzzing the manifest reader: whatever bytes `modelver.toml` holds, `status`, `lock` and the pre-commit hook
answer with exit 0, 1 or 2 (a result, a check that failed, bad input), never 4 (a crash), never a hang.

Inputs are random TOML documents (known sections and keys with values of any type) and mutations of a
valid manifest (flipped bytes, deleted and duplicated lines, odd unicode, deep nesting, huge numbers,
values of the wrong type). Each runs through the real commands, in this process, against one real
repository with a release, prompts (one a symlink), a DVC pointer and a dvc.lock, so pins, the diff
against the release and the hook's reading of the index all take part.

MODELVER_FUZZ_EXAMPLES sets the number of cases (default 150, a few seconds).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
from helpers import GitRepo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodelver.cli import main

EXAMPLES = int(os.environ.get("MODELVER_FUZZ_EXAMPLES", "150"))
HANG_SECONDS = 20  # one case through three commands takes milliseconds; this long is a hang

TEMPLATE = """\
# a manifest with every well-known shape, locked
[system]
name = "support-bot"

[base_model]
id = "meta-llama/Llama-3.1-8B-Instruct"
revision = "0e9e39f249a16976918f6564b8830bc894c89659"

[weights.adapter]
dvc = "models/adapter.dvc"
md5 = "0123456789abcdef0123456789abcdef"
trained_on = ["data/train.jsonl"]

[weights.features]
dvc = "data/features.parquet"
md5 = "fedcba9876543210fedcba9876543210"

[prompts.system]
path = "prompts/system.j2"
sha256 = "{system}"

[prompts.alias]
path = "prompts/alias.j2"
sha256 = "{alias}"

[retrieval]
embedding_model = "BAAI/bge-small-en-v1.5"
chunk_size = 512
chunk_overlap = 64
index = {{ dvc = "models/adapter.dvc", md5 = "0123456789abcdef0123456789abcdef" }}

[parameters]
temperature = 0.2
top_p = 0.9
stop = ["</s>", "\\n\\n"]

[parameters.train]
params = "params.yaml"
keys = ["train"]
values = {{ train = {{ lr = 0.1, epochs = 3 }} }}

[serving]
quantization = "awq-int4"
max_batch_size = 32

[evaluation]
suite = {{ path = "evals/suite.yaml", sha256 = "{suite}" }}
results = {{ path = "evals/results.json", sha256 = "{results}" }}
gates = {{ accuracy = ">= 0.85", toxicity = "<= 0.01" }}

[policy]
require_signed = false
prompt_globs = ["prompts/**"]
bump = {{ "serving.quantization" = "minor", "parameters.*" = "patch" }}

[rollout]
steps = [5, 25, 50, 100]
min_samples = 200
failure_limit = 0

[rollout.metrics.thumbs_up]
direction = "higher"
max_regression = 0.02
test = "proportion"
confidence = 0.95
created = 2024-05-01T12:00:00Z
"""

FILES = {
    "prompts/system.j2": "You are a helpful support bot for {{ product }}.\n",
    "shared/base.txt": "You are terse.\n",
    "evals/suite.yaml": "cases: []\n",
    "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\nother: 1\n",
    "evals/results.json": json.dumps(
        {"subject": "sha256:" + "0" * 64, "metrics": {"accuracy": 0.9}, "created_at": "2024-05-01T00:00:00Z"}
    ),
    "models/adapter.dvc": "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 5\n  hash: md5\n"
    "  path: adapter.bin\n",
    "dvc.lock": "schema: '2.0'\nstages:\n  featurize:\n    cmd: python featurize.py\n    outs:\n"
    "    - path: data/features.parquet\n      md5: fedcba9876543210fedcba9876543210\n",
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


VALID = TEMPLATE.format(
    system=_sha256(FILES["prompts/system.j2"]),
    alias=_sha256(FILES["shared/base.txt"]),  # prompts/alias.j2 is a symlink to it
    suite=_sha256(FILES["evals/suite.yaml"]),
    results=_sha256(FILES["evals/results.json"]),
)

SECTIONS = ["system", "base_model", "weights", "prompts", "retrieval", "parameters", "serving"]
SECTIONS += ["evaluation", "policy", "rollout", "extra"]
KEYS = ["name", "version", "id", "revision", "path", "dvc", "sha256", "md5", "trained_on", "suite", "results"]
KEYS += ["gates", "require_signed", "require_eval", "prompt_globs", "bump", "steps", "min_samples", "metrics"]
KEYS += ["direction", "test", "confidence", "chunk_size", "temperature", "index", "quantization"]
KEYS += ["params", "keys", "values"]
ODD = ["\u202e", "\x00", "\ufeff", "\u2028", "\u00e9", "\U0001d54f", "\x7f", "\r", "\t", '"', "'", "[", "]"]
ODD += ["{", "}", "=", "#", "\\", ".", ",", "\n", "'''", '"""', "\u0301", "\ud7ff", "\uffff"]


# --------------------------------------------------------------------------- a small TOML writer
# Written here, not with tomlkit, so that anything hypothesis makes becomes text: also what tomlkit
# would refuse to write and what tomllib will refuse to read.


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


def dump(doc: dict[str, Any]) -> str:
    top = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = []
    for name, table in doc.items():
        if isinstance(table, dict):
            tables.append(f"[{_key(name)}]")
            tables += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join([*top, *tables]) + "\n"


# --------------------------------------------------------------------------- strategies

keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["prompts/system.j2", "models/adapter.dvc", "../x", "/etc/passwd", ".git/config", ""]),
    st.sampled_from(["prompts/a\x00.j2", "prompts/alias.j2/..", "prompts", "C:/x", "a\\b", "x.dvc"]),
    st.sampled_from(["a" * 64, "0123456789abcdef0123456789abcdef", "1.2.3", "minor", ">= 0.5", "prompts/**"]),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
sections = st.dictionaries(
    st.one_of(st.sampled_from(SECTIONS), st.text(max_size=10)),
    st.dictionaries(keys, values, max_size=6) | values,
    max_size=8,
)
# Half of them name a system, so they get past the first question and on to the others.
documents = st.tuples(st.booleans(), sections).map(
    lambda named: dump({"system": {"name": "support-bot"}, **named[1]} if named[0] else named[1]).encode(
        "utf-8", "surrogatepass"
    )
)


def _wrong_type(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    assigned = [i for i, line in enumerate(lines) if re.match(r"^[A-Za-z_\"]", line) and "=" in line]
    i = draw(st.sampled_from(assigned))
    key = lines[i].split("=", 1)[0]
    lines[i] = f"{key}= {_value(draw(values))}"
    return "\n".join(lines)


def _deep(draw: st.DrawFn, text: str) -> str:
    n = draw(st.sampled_from([31, 32, 33, 34, 100, 400, 1000, 5000]) | st.integers(1, 3000))
    shape = draw(st.sampled_from(["[", "{a = ", "header", "dotted"]))
    if shape == "header":
        return text + "\n[deep." + ".".join(["t"] * n) + "]\nx = 1\n"
    if shape == "dotted":
        return text + "\n[deep]\n" + ".".join(["k"] * n) + " = 1\n"
    close = "]" if shape == "[" else "}"
    inner = draw(st.sampled_from(["", "1", '"s"']))
    inner = inner if shape == "[" else (inner or "1")
    nested = shape * n + inner + close * n
    return text + f"\n[deep]\nx = {nested}\n" if draw(st.booleans()) else text.replace("0.2", nested, 1)


def _huge_number(draw: st.DrawFn, text: str) -> str:
    numbers = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
    match = draw(st.sampled_from(numbers))
    digits = draw(st.sampled_from([19, 20, 4300, 4301, 10000]) | st.integers(1, 6000))
    form = draw(st.sampled_from(["9" * digits, "0x" + "f" * digits, "1e" + "9" * min(digits, 50)]))
    return text[: match.start()] + form + text[match.end() :]


def _line_edit(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    if draw(st.booleans()):
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return "\n".join(lines)


def _odd_unicode(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, len(text)))
    odd = draw(st.sampled_from(ODD) | st.text(min_size=1, max_size=4))
    return text[:at] + odd + text[at:]


TEXT_MUTATIONS = [_wrong_type, _deep, _huge_number, _line_edit, _odd_unicode]


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    text = VALID
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(TEXT_MUTATIONS))(draw, text)
    raw = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):  # byte flips: invalid UTF-8 included
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


# --------------------------------------------------------------------------- the repository and the run


def repository(path: Path) -> GitRepo:
    repo = GitRepo.create(path)
    for name, text in FILES.items():
        repo.write(name, text)
    os.symlink("../shared/base.txt", repo.path / "prompts" / "alias.j2")
    repo.write("modelver.toml", VALID)
    repo.commit_all("seed")
    assert repo.modelver("lock").code == 0 and repo.read("modelver.toml") == VALID  # locked already
    result = repo.modelver("release")
    assert result.code == 0, result.err
    return repo


class Hang(BaseException):
    """Raised in a case that runs too long; BaseException so no error boundary swallows it."""


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(repo: GitRepo, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["-C", str(repo.path), *args])
    return code, err.getvalue()


def stage(git: pygit2.Repository) -> None:
    index = git.index
    index.read()
    index.add("modelver.toml")
    index.write()


def outcomes(repo: GitRepo, git: pygit2.Repository, raw: bytes) -> dict[str, tuple[int, str]]:
    (repo.path / "modelver.toml").write_bytes(raw)
    found = {"status": run(repo, "status", "--json")}
    stage(git)  # the hook judges the staged manifest
    found["hook"] = run(repo, "hook", "pre-commit")
    found["lock"] = run(repo, "lock")  # last: it may rewrite the file
    return found


def test_the_manifest_reader_never_crashes_and_never_hangs(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    git = pygit2.Repository(str(repo.path))
    counts: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(st.one_of(documents, mutants()))
    def case(raw: bytes) -> None:
        with deadline(HANG_SECONDS):
            found = outcomes(repo, git, raw)
        for command, (code, err) in found.items():
            assert code in (0, 1, 2), f"{command} exited {code}: {err}\n--- modelver.toml ---\n{raw[:2000]!r}"
            counts[f"{command}={code}"] = counts.get(f"{command}={code}", 0) + 1

    case()
    print(f"fuzz: {EXAMPLES} cases, exit codes of status, hook and lock: {dict(sorted(counts.items()))}")
    # The inputs reached both sides: some were refused as bad input, some got through.
    assert counts.get("status=2", 0) > 0 and counts.get("status=0", 0) > 0, counts
