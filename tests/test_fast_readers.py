"""The fast readers say what the reference ones say: plain TOML as tomllib reads it, the compiled schema as
jsonschema judges it. Each is checked against its reference on generated documents, valid and not
(MODELVER_FUZZ_EXAMPLES sets how many, 400 by default)."""

from __future__ import annotations

import copy
import datetime as dt
import os
import tomllib
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodelver.core import schema_cache, tomltext, validate

EXAMPLES = int(os.environ.get("MODELVER_FUZZ_EXAMPLES", "400"))  # more for a longer search


def typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it: 1, 1.0 and True are equal in Python, not in TOML."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def reference(text: str) -> Any:
    try:
        return typed(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError):
        return "error"


# --------------------------------------------------------------------------- plain TOML

KEYS = ["a", "b", "name", "x-y", "k_1", "1", '"q"', "a.b", "ä", ""]
SCALARS = [
    '"text"', '""', '"with # hash"', '"esc\\"aped"', '"tab\there"', "'literal \\ back'", "''", "'it''s'",
    "0", "-0", "+1", "12", "012", "1_000", "3.5", "-0.25", "1.", ".5", "1e3", "1.5E-2", "inf", "nan",
    "0x1F", "true", "false", "True", "truex", "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00",
    "9" * 30, "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1" + "0" * 400 + ".5",
    '"unterminated', '"\x01"', "'\x7f'",
]  # fmt: skip
SPACES = ["", " ", "\t", "  "]
COMMENTS = ["", " # note", "#", " # \x01", "# é"]


@st.composite
def values(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "array", "table"] if depth == 0 else ["scalar"]))
    if kind == "scalar":
        return draw(st.sampled_from(SCALARS))
    sep = draw(st.sampled_from([",", ", ", " ,", ",\t", " "]))
    if kind == "array":
        items = draw(st.lists(values(depth + 1), max_size=4))
        trailing = draw(st.sampled_from(["", ","]))
        return "[" + draw(st.sampled_from(SPACES)) + sep.join(items) + trailing + "]"
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), values(depth + 1)), max_size=3))
    return "{" + sep.join(f"{k} = {v}" for k, v in pairs) + draw(st.sampled_from(["", ","])) + "}"


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["pair", "pair", "pair", "header", "blank", "odd"]))
    space = draw(st.sampled_from(SPACES))
    if kind == "pair":
        key, value = draw(st.sampled_from(KEYS)), draw(values())
        return f"{space}{key}{draw(st.sampled_from(SPACES))}={draw(st.sampled_from(SPACES))}{value}" + draw(
            st.sampled_from(COMMENTS)
        )
    if kind == "header":
        path = draw(st.lists(st.sampled_from(KEYS[:6]), min_size=1, max_size=3))
        dot = draw(st.sampled_from([".", " . "]))
        return f"{space}[{dot.join(path)}]" + draw(st.sampled_from(COMMENTS))
    if kind == "blank":
        return space + draw(st.sampled_from(COMMENTS))
    return draw(st.sampled_from(["[[arr]]", "a.b = 1", 'x = """', "= 1", "k = ", "\ufeffk = 1", "k = 1 2"]))


@st.composite
def documents(draw: st.DrawFn) -> str:
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    return newline.join(draw(st.lists(lines(), max_size=12))) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_plain_toml_is_read_as_tomllib_reads_it(text: str) -> None:
    fast = tomltext.plain_toml(text)
    if fast is not None:
        assert typed(fast) == reference(text)
        assert validate.shape_problem(fast) is None  # what shape_problem refuses is left to tomllib


def test_manifests_as_written_are_plain() -> None:
    text = (
        '# a system\n[system]\nname = "bot"  # the tag prefix\nversion = "1.2.0"\n\n'
        "[evaluation]\nsuite = { path = 'evals/suite.yaml', sha256 = \"ab\" }\n"
        'gates = { accuracy = ">= 0.85", toxicity = "<= 0.01" }\n\n'
        '[weights.adapter]\ntrained_on = ["data/a.dvc", \'data/b.dvc\',]\nmd5 = "x"\n\n'
        "[parameters]\ntemperature = 0.2\nmax_tokens = 512\nstream = false\nstop = []\n"
    )
    assert tomltext.plain_toml(text) == tomllib.loads(text)
    assert tomltext.plain_toml(text.replace("\n", "\r\n")) == tomllib.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "[a]\n[a]\n",  # a table twice: tomllib says so
        "[a.b]\n[a]\n",  # a table made by a sub-table's header, then defined: tomllib's rules
        "a = { b = 1 }\n[a.c]\n",  # an inline table extended
        "a = 1\na = 2\n",
        "a = 1\n[a.b]\n",
        'a = "x\\ny"\n',  # escapes
        "a = [\n 1,\n]\n",  # multi-line arrays
        "a = 1979-05-27\n",
        "a = {b = 1,}\n",
        "[" + ".".join("t" * 20) + "]\nk = 1\n",  # deeper than plain
        "big = 9223372036854775808\n",  # beyond 64 bits: validate reports it
    ],
)
def test_what_is_not_plain_is_left_to_tomllib(text: str) -> None:
    assert tomltext.plain_toml(text) is None


# --------------------------------------------------------------------------- the compiled schema


def jsonschema_valid(data: Any) -> bool:
    return not any(True for _ in schema_cache._validator().iter_errors(data))


LEAVES = st.one_of(
    st.sampled_from(
        [
            "bot", "Bot", "", "1.2.0", "v1", "1.2.0-rc.1", "0e9e39f249a16976918f6564b8830bc894c89659",
            "a" * 64, "0" * 32, "0" * 32 + ".dir", ">= 0.85", "<=0.01", "minor", "huge", "higher",
            "proportion", "p.txt", "p.txt\n", 0, 1, -1, 32, 0.5, 1.5, 100, 101, True, False,
            dt.date(2024, 1, 1),
        ]
    ),
)  # fmt: skip
NAMES = [
    "system", "name", "version", "base_model", "id", "revision", "weights", "prompts", "retrieval",
    "parameters", "temperature", "top_p", "serving", "max_batch_size", "evaluation", "suite", "results",
    "gates", "policy", "require_signed", "require_eval", "prompt_globs", "bump", "max_file_size",
    "weight_patterns", "rollout", "steps", "min_samples", "failure_limit", "metrics", "direction",
    "max_regression", "test", "confidence", "path", "dvc", "sha256", "md5", "trained_on", "params", "keys",
    "values", "adapter", "x", "other",
]  # fmt: skip


def trees() -> st.SearchStrategy[Any]:
    return st.recursive(
        LEAVES,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)
        ),
        max_leaves=14,
    )


BASE = tomllib.loads(
    '[system]\nname = "bot"\nversion = "1.0.0"\n'
    '[base_model]\nid = "m"\nrevision = "0e9e39f249a16976918f6564b8830bc894c89659"\n'
    '[prompts.system]\npath = "p.j2"\nsha256 = "' + "a" * 64 + '"\n'
    '[weights.adapter]\ndvc = "w.dvc"\nmd5 = "' + "0" * 32 + '"\ntrained_on = ["d.dvc"]\n'
    '[retrieval]\nchunk_size = 512\nindex = { dvc = "i.dvc" }\n'
    '[retrieval.nested.deeper]\npath = "n.txt"\n'
    "[parameters]\ntemperature = 0.2\ntop_p = 0.9\n"
    '[parameters.train]\nparams = "params.yaml"\nkeys = ["train"]\nvalues = { lr = 0.1 }\n'
    "[serving]\nmax_batch_size = 32\n"
    '[evaluation]\nsuite = { path = "s.yaml" }\nresults = { path = "r.json" }\n'
    'gates = { accuracy = ">= 0.8" }\n'
    '[policy]\nrequire_signed = true\nprompt_globs = ["prompts/**"]\nbump = { "parameters.*" = "minor" }\n'
    "[rollout]\nsteps = [5, 100]\nmin_samples = 10\n"
    '[rollout.metrics.ok]\ndirection = "higher"\ntest = "proportion"\nconfidence = 0.9\n'
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found += paths(item, (*prefix, key))
    return found


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The manifest of every shape, changed in up to three places: a value replaced, a key removed or
    added (most stay near the edge between valid and not)."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(paths(data)))
        parent: Any = data
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(trees())
        elif action == "remove":
            del parent[where[-1]]
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][draw(st.sampled_from(NAMES))] = draw(trees())
    return data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_the_compiled_schema_judges_as_jsonschema(data: dict[str, Any]) -> None:
    assert schema_cache.schema_valid(data) == jsonschema_valid(data)


def test_valid_manifests_pass_the_compiled_schema() -> None:
    data = tomllib.loads(
        '[system]\nname = "bot"\nversion = "1.0.0"\n[prompts.system]\npath = "p.j2"\nsha256 = "'
        + "a" * 64
        + '"\n[weights.adapter]\ndvc = "w.dvc"\ntrained_on = ["d.dvc"]\n[parameters]\ntemperature = 0.2\n'
        '[evaluation]\nresults = { path = "r.json" }\ngates = { accuracy = ">= 0.8" }\n'
        '[rollout]\nsteps = [5, 100]\n[rollout.metrics.ok]\ndirection = "higher"\nconfidence = 0.9\n'
        '[policy]\nbump = { "parameters.*" = "minor" }\n'
    )
    assert jsonschema_valid(data)
    assert schema_cache.schema_valid(data)


@pytest.mark.parametrize(
    "schema",
    [
        {"format": "date"},
        {"patternProperties": {"^a": {}}},
        {"$ref": "https://example.com/s.json"},
        {"enum": [1, "a"]},
        {"type": "strange"},
        {"properties": {"a": {"unevaluatedProperties": False}}},
    ],
)
def test_a_schema_it_cannot_judge_exactly_is_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(schema_cache.Unsupported):
        schema_cache.compile_schema(schema)


def test_the_compiled_check_follows_draft_2020_12_on_its_keywords() -> None:
    schema = {
        "$defs": {"n": {"type": "integer", "minimum": 1}},
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"not": {"type": "string"}}},
        "additionalProperties": {"anyOf": [{"type": "boolean"}, {"type": "array", "items": {"enum": ["x"]}}]},
        "if": {"required": ["c"]},
        "then": {"properties": {"c": {"const": 1}}},
    }
    with pytest.raises(schema_cache.Unsupported):
        schema_cache.compile_schema(schema)  # const: not known, so not guessed
    schema["then"] = {"properties": {"c": {"type": "array"}}}
    check = schema_cache.compile_schema(schema)
    cases: list[Any] = [
        {"a": 1}, {"a": 0}, {"a": True}, {"a": 1.0}, {}, {"a": 1, "b": "s"}, {"a": 1, "b": 2},
        {"a": 1, "z": False}, {"a": 1, "z": ["x", "x"]}, {"a": 1, "z": ["y"]}, {"a": 1, "c": []},
        {"a": 1, "c": 1}, [], "text",
    ]  # fmt: skip
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, i: isinstance(i, int) and not isinstance(i, bool)
    )
    reference_validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)
    for case in cases:
        assert check(case) == reference_validator(schema).is_valid(case), case
