"""Tables a history repeats are read once and shared (``tomltext.shared``), and what depends on one table
alone is worked out once for it: its schema verdict, its path problems, its file references, its canonical
JSON. Every answer must be the one a fresh read gives, whatever was shared before and whatever was
dropped when the shared tables filled up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_readers import documents

from gitmodelver.core import diff, digest, filerefs, manifest, schema_cache, tomltext, validate
from gitmodelver.errors import ManifestError

BASE = (
    '[system]\nname = "bot"\nversion = "{version}"\n\n'
    '[base_model]\nid = "org/model"\nrevision = "0e9e39f249a16976918f6564b8830bc894c89659"\n\n'
    '[prompts.system]\npath = "{prompt}"\nsha256 = "{sha}"\n\n'
    "[parameters]\ntemperature = 0.2\nmax_tokens = {tokens}\n"
)
SHA = "a" * 64


def text(version: str = "1.0.0", tokens: int = 256, prompt: str = "prompts/system.j2", sha: str = SHA) -> str:
    return BASE.format(version=version, tokens=tokens, prompt=prompt, sha=sha)


def fresh(doc: str) -> Any:
    """What reading ``doc`` gives with nothing shared before."""
    tomltext._SECTIONS.clear()
    tomltext._SHARED.clear()
    return tomltext.plain_toml(doc)


def test_the_same_table_text_gives_the_same_table() -> None:
    one, two = tomltext.plain_toml(text("1.0.0")), tomltext.plain_toml(text("1.0.1"))
    assert one is not None and two is not None
    assert one["base_model"] is two["base_model"] and one["prompts"] is two["prompts"]
    assert one["system"] is not two["system"] and one["system"] != two["system"]
    assert all(tomltext.shared(t) for t in (*one.values(), *two.values()))
    assert not tomltext.shared(one) and not tomltext.shared(dict(one["prompts"]))
    assert one == fresh(text("1.0.0"))


@pytest.mark.parametrize(
    "doc",
    [
        "[a]\nx = 1\n[b]\ny = 2\n[a.c]\nz = 3\n",  # a table split in two: valid TOML, read by tomllib
        "a = 1\n[a]\nx = 1\n",  # a key, then a table of that name
        "a = { x = 1 }\n[a.b]\n",  # an inline table, then extended
        "[a]\nx = [\n[1, 2],\n]\n",  # a line opening with [ that is no header
        '[a]\nx = """\n[b]\n"""\n',  # a header inside a multi-line string
    ],
)
def test_documents_that_are_not_table_by_table_are_left_to_tomllib(doc: str) -> None:
    assert tomltext.plain_toml(doc) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=2, max_size=4))
def test_documents_read_after_others_read_as_if_alone(docs: list[str]) -> None:
    together = [tomltext.plain_toml(d) for d in docs]  # tables shared between them, and with earlier runs
    assert together == [fresh(d) for d in docs]


def test_a_shared_table_is_judged_by_the_schema_once_and_the_same_each_time() -> None:
    bad = text().replace('revision = "0e9e39f249a16976918f6564b8830bc894c89659"', 'revision = "main"')
    for version in ("1.0.0", "1.0.1"):  # the second reads the kept verdict on the same table
        with pytest.raises(ManifestError, match="revision"):
            manifest.parse(bad.replace("1.0.0", version), "modelver.toml")
    # a valid document sharing its other tables with the invalid one
    assert manifest.parse(text("1.0.2"), "modelver.toml").version == "1.0.2"
    data = tomltext.plain_toml(bad)
    assert data is not None and not schema_cache.schema_valid(data)
    assert schema_cache.schema_valid(fresh(text("1.0.3")))


def test_a_table_made_from_a_shared_one_is_judged_for_itself() -> None:
    """A copy with one value changed is a new table: no verdict kept for the shared one applies to it."""
    data = tomltext.plain_toml(text("1.0.4"))
    assert data is not None and schema_cache.schema_valid(data)
    copy = {**data, "base_model": {**data["base_model"], "revision": "main"}}  # a new table: not shared
    assert not schema_cache.schema_valid(copy)


def test_path_problems_of_a_shared_table_depend_on_the_manifests_folder() -> None:
    doc = text(prompt="../prompts/system.j2")
    assert validate.validate(tomltext.plain_toml(doc) or {}, doc, "sub/modelver.toml", base=Path("sub")) == []
    problems = validate.validate(tomltext.plain_toml(doc) or {}, doc, "modelver.toml")
    assert len(problems) == 1 and "leaves the repository" in problems[0]
    again = validate.validate(tomltext.plain_toml(doc) or {}, doc, "sub/modelver.toml", base=Path("sub"))
    assert again == []


def test_file_references_of_shared_tables_are_those_of_a_fresh_read() -> None:
    docs = [text(version=f"1.0.{i}", tokens=256 + i) for i in range(3)]
    refs = [list(filerefs.iter_file_refs(tomltext.plain_toml(d) or {})) for d in docs]
    assert refs[0] == refs[1] == refs[2] == list(filerefs.iter_file_refs(fresh(docs[0])))
    assert [r.dotted for r in refs[0]] == ["prompts.system"]


def reference_json(value: Any) -> bytes:
    plain = digest._plain(value)
    return json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_canonical_json_table_by_table_is_the_documents_canonical_json(doc: str) -> None:
    data = tomltext.plain_toml(doc)
    if data is None:
        return
    for view in (data, digest.state_view(data), digest.version_view(data)):
        assert digest.canonical_json(view) == reference_json(view)
        assert digest.canonical_json(view) == reference_json(view)  # the second from the kept tables


def test_canonical_json_of_other_values() -> None:
    for value in ({"é": {"ü": "ß"}, "a": [1, 2.5, True]}, {1: "x"}, [{"b": 1}], {"z": {}, "ä": None}):
        assert digest.canonical_json(value) == reference_json(value)


def test_a_diff_skips_the_tables_both_share_and_finds_the_rest() -> None:
    old, new = tomltext.plain_toml(text("1.0.0", 256)), tomltext.plain_toml(text("1.0.1", 300))
    assert old is not None and new is not None
    changes = diff.diff(old, new)
    assert [(c.path, c.old, c.new, c.level) for c in changes] == [
        ("parameters.max_tokens", 256, 300, "patch")
    ]
    assert diff.diff(fresh(text("1.0.0", 256)), new) == changes


def test_when_the_shared_tables_fill_up_answers_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tomltext, "SHARED_MAX", 8)
    seen = []
    for i in range(30):  # the shared tables are dropped several times on the way
        doc = text(version=f"2.0.{i}", tokens=i % 3, sha=f"{i % 2:x}" * 64)
        m = manifest.parse(doc, "modelver.toml")
        seen.append((digest.state_digest(m.data), digest.version_digest(m.data), m.refs))
        assert len(tomltext._SECTIONS) <= 8
    for i in (0, 7, 29):
        doc = text(version=f"2.0.{i}", tokens=i % 3, sha=f"{i % 2:x}" * 64)
        data = fresh(doc)
        assert seen[i] == (
            digest.state_digest(data),
            digest.version_digest(data),
            list(filerefs.iter_file_refs(data)),
        )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_both_digests_at_once_are_each_digest(doc: str) -> None:
    data = tomltext.plain_toml(doc)
    if data is None:
        return
    assert digest.digests(data) == (digest.version_digest(data), digest.state_digest(data))
    assert digest.digests({**data, "system": {"name": "x", "version": "1.0.0"}}) == (
        digest.version_digest({**data, "system": {"name": "x", "version": "2.0.0"}}),
        digest.state_digest({**data, "system": {"name": "x", "version": "1.0.0"}}),
    )
